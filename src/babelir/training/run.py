"""``babelir train``: a shared bi-encoder fine-tuned with InfoNCE over in-batch negatives, on
batches composed by a language-aware sampler.

The model and the loss are sentence-transformers' (``MultipleNegativesRankingLoss``, or its
GradCache variant ``CachedMultipleNegativesRankingLoss``, with scale = 1 / temperature);
processes, devices and DDP come from accelerate. What babelir adds is the loop around them:
every step takes the sampler's global batch for that step, each process encodes its shard
(negatives are gathered across processes by the loss), and checkpoints hold everything
needed for ``--resume`` to reproduce the uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from babelir.errors import BabelirError
from babelir.io import git_commit, mark_output, sha256_of, write_json
from babelir.sampling import BatchSampler, make_sampler, summarise
from babelir.settings import cache_dir as default_cache_dir
from babelir.training.batches import save_model
from babelir.training.checkpoint import check_new_run_folder, check_resume
from babelir.training.config import TrainConfig
from babelir.training.examples import TrainingTexts


def load_training_pairs(config: TrainConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, dev) rows of the pairs file, restricted to the configured languages."""
    from babelir.data.pairs import load_pairs

    pairs = load_pairs(Path(config.pairs))
    if config.languages:
        unknown = sorted(set(config.languages) - set(pairs["lang"]))
        if unknown:
            raise BabelirError(f"{config.pairs}: no rows for language(s) {', '.join(unknown)}")
        pairs = pairs[pairs["lang"].isin(config.languages)]
    return pairs[pairs["split"] == "train"], pairs[pairs["split"] == "dev"]


def build_sampler(config: TrainConfig, texts: TrainingTexts, seed: int,
                  batch_size: int | None = None) -> BatchSampler:
    return make_sampler(config.strategy, texts.pool, batch_size or config.batch_size, seed,
                        alpha=config.alpha, temperature=config.dataset_temperature)


def dev_sampler(config: TrainConfig, texts: TrainingTexts) -> BatchSampler | None:
    """The same strategy on the dev split; the batch is halved until the dev split allows it."""
    size = config.batch_size
    while size >= 2:
        try:
            return build_sampler(config, texts, config.seed + 10_000, size)
        except BabelirError:
            size //= 2
    return None


def load_model(config: TrainConfig, device):
    from sentence_transformers import SentenceTransformer

    from babelir.models.registry import resolve_model

    choice = resolve_model(config.model, default_cache_dir(config.cache_dir),
                           config.query_prefix, config.passage_prefix)
    model = SentenceTransformer(choice.location, device=str(device))
    model.max_seq_length = config.max_length
    model.prompts = {"query": choice.query_prefix, "passage": choice.passage_prefix}
    model.default_prompt_name = None
    encoder = model[0].auto_model
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # mean pooling never uses it; unused parameters break DDP
    if config.freeze_embeddings:
        model[0].auto_model.get_input_embeddings().weight.requires_grad_(False)
    if config.lora_rank:
        from babelir.training.lora import add_lora

        add_lora(model, config)
    return model, choice


def build_loss(config: TrainConfig, model, distributed: bool, anchored: bool = True):
    """InfoNCE (GradCache with ``cached_loss``); with ``distill_weight`` / ``parallel_weight``
    and ``anchored``, wrapped in ``AnchoredLoss`` with a frozen copy of ``model`` as teacher
    (built before the first step, so the teacher is the untuned model)."""
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss)

    scale = 1.0 / config.temperature
    if config.cached_loss:
        return CachedMultipleNegativesRankingLoss(model, scale=scale,
                                                  mini_batch_size=config.mini_batch_size,
                                                  gather_across_devices=distributed)
    loss = MultipleNegativesRankingLoss(model, scale=scale, gather_across_devices=distributed)
    if anchored and (config.distill_weight or config.parallel_weight):
        from babelir.training.losses import AnchoredLoss, frozen_teacher

        return AnchoredLoss(loss, frozen_teacher(model), config.distill_weight,
                            config.parallel_weight)
    return loss


def load_parallel(config: TrainConfig):
    """The parallel sentences of the KD term (None without ``parallel_weight``)."""
    if not config.parallel_weight:
        return None
    from babelir.settings import data_dir
    from babelir.training.losses import ParallelSentences

    folder = data_dir(config.data_dir)
    if folder is None:
        raise BabelirError("parallel_weight needs the data folder (XNLI): --data-dir or "
                           "$BABELIR_DATA")
    return ParallelSentences.from_xnli(folder, config.parallel_sentences, config.seed,
                                       config.languages or None)


def prepare_run_folder(config: TrainConfig, accelerator, resume: bool = False) -> Path:
    """The run folder with its config.yaml and run.json. A new run's folder must be absent,
    empty, or babelir's without an earlier run's checkpoints (``check_new_run_folder``); a
    resumed run (checked by ``check_resume`` first) keeps its run.json and adds to
    ``resumed``."""
    out = Path(config.out)
    if not resume:
        check_new_run_folder(out)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        mark_output(out)
        (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False),
                                         encoding="utf-8")
        now = {"commit": git_commit(), "started": time.strftime("%F %T %Z"),
               "processes": accelerator.num_processes, "device": str(accelerator.device),
               "torch": torch.__version__}
        record_path = out / "run.json"
        if resume and record_path.is_file():
            record = json.loads(record_path.read_text(encoding="utf-8"))
            record.setdefault("resumed", []).append(now)
        else:
            record = {"seed": config.seed, **now, "pairs_sha256": sha256_of(config.pairs)}
        write_json(record_path, record)
    return out


def check_leakage(config: TrainConfig, pairs: pd.DataFrame, out: Path, is_main: bool) -> None:
    from babelir.settings import data_dir
    from babelir.training.leakage import check_leakage as check, enforce, write_report

    folder = data_dir(config.data_dir)
    if folder is None:
        raise BabelirError("the leakage guard needs the data folder (--data-dir or "
                           "$BABELIR_DATA) to compare with the benchmark "
                           f"{config.benchmark!r}")
    report = check(pairs, config.benchmark, folder)
    if is_main:
        write_report(report, out / "leakage.json")
    enforce(report, config.allow_leakage)


MIXED_PRECISION = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}


def make_accelerator(config: TrainConfig):
    """accelerate's Accelerator with the run's precision: bf16 autocasts the forward pass and
    the loss (CPU or GPU); fp16 (CUDA only) adds accelerate's gradient scaler."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if config.precision not in MIXED_PRECISION:
        raise BabelirError(f"precision must be one of {', '.join(MIXED_PRECISION)}, "
                           f"got {config.precision!r}")
    on_cpu = config.device == "cpu" or not torch.cuda.is_available()
    if config.precision == "fp16" and on_cpu:
        raise BabelirError("precision fp16 needs a CUDA device; on a CPU use bf16 or fp32")
    wanted = MIXED_PRECISION[config.precision]
    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != wanted:
        AcceleratorState._reset_state()  # a second run in this process, at another precision
    return Accelerator(cpu=config.device == "cpu", mixed_precision=wanted)


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Run (or resume) a training run; returns the final model folder."""
    accelerator = make_accelerator(config)
    rank, world = accelerator.process_index, accelerator.num_processes
    if config.batch_size % world:
        raise BabelirError(f"batch_size {config.batch_size} is not divisible by the "
                           f"{world} processes")
    train_rows, dev_rows = load_training_pairs(config)
    data = TrainingTexts.from_pairs(train_rows, config.hard_negatives)
    sampler = build_sampler(config, data, config.seed)  # errors here: before any step
    dev_data = TrainingTexts.from_pairs(dev_rows, config.hard_negatives) if len(dev_rows) else None
    dev = dev_sampler(config, dev_data) if dev_data is not None else None
    validator = make_validator(config)  # its pool is loaded now: a missing one stops here
    if resume:
        check_resume(config)  # same settings, a checkpoint there: before anything is written
    out = prepare_run_folder(config, accelerator, resume)
    if accelerator.is_main_process:
        print(f"sampler: {json.dumps(sampler.describe())}", flush=True)
    check_leakage(config, pd.concat([train_rows, dev_rows]), out, accelerator.is_main_process)
    trainer = build_trainer(config, accelerator, data, sampler, out,
                            (dev_data, dev) if dev is not None else None, validator)
    start = trainer.resume() if resume else 0  # newest intact checkpoint (damaged: skipped)
    log = _open_log(out / "train_log.jsonl", start, accelerator.is_main_process)
    batch_log = (out / f"batches.rank{rank}.jsonl").open("a") if config.log_batches else None
    stop = min(config.steps, config.stop_after or config.steps)
    trainer.fit(start, stop, log, batch_log)
    if batch_log is not None:  # equal on every rank iff DDP kept the replicas in sync
        checksum = float(sum(p.double().sum() for p in trainer.model.parameters()))
        batch_log.write(json.dumps({"weights_checksum": checksum}) + "\n")
    for handle in (log, batch_log):
        if handle is not None:
            handle.close()
    accelerator.wait_for_everyone()
    if stop < config.steps:
        return out / "checkpoints"
    if accelerator.is_main_process:
        finish_run(config, trainer.model, sampler, trainer.history, trainer.choice, out,
                   train_rows)
    accelerator.wait_for_everyone()
    return out / "final"


def make_validator(config: TrainConfig):
    """The checkpoint-selection score on a validation pool (``select_on``), or None."""
    from babelir.training.trainer import Validator, parse_select_on

    selection = parse_select_on(config.select_on)
    return Validator(*selection, config) if selection else None


def build_trainer(config: TrainConfig, accelerator, data, sampler, out: Path, dev, validator):
    """The model (seeded), its loss (with the teacher terms), dev and validation checks."""
    from babelir.training.trainer import Trainer

    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    model, choice = load_model(config, accelerator.device)
    loss_fn = build_loss(config, model, accelerator.num_processes > 1)
    dev_check = None
    if dev is not None:  # every rank scores the whole dev batch, InfoNCE only
        dev_check = (build_loss(config, model, False, anchored=False), *dev)
    return Trainer(config, accelerator, model, choice, data, sampler, loss_fn, out,
                   dev=dev_check, parallel=load_parallel(config), validator=validator)


def _open_log(path: Path, start: int, is_main: bool):
    """The step log, cut back to ``start`` (a resumed run rewrites what came after)."""
    if not is_main:
        return None
    kept = []
    if start and path.is_file():
        kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                if json.loads(line)["step"] <= start]
    elif path.exists():
        path.unlink()
    handle = path.open("w", encoding="utf-8")
    handle.writelines(line + "\n" for line in kept)
    return handle


def finish_run(config: TrainConfig, model, sampler: BatchSampler, history: dict, choice,
               out: Path, train_rows: pd.DataFrame) -> None:
    """The final model (best dev checkpoint, or the last one), its card and the data summary."""
    from babelir.data.pairs import pairs_available

    drawn = summarise(sampler.batch(step) for step in range(config.steps))
    write_json(out / "data_summary.json", {
        "sampler": sampler.describe(), "drawn": drawn,
        "train_examples": int(len(sampler.pool.example_ids)),
        "available_pairs": pairs_available(train_rows).to_dict("records"),
    })
    steps = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    history["step_seconds_total"] = float(sum(entry["seconds"] for entry in steps))
    write_json(out / "history.json", history)
    best = out / "best"
    use_best = config.select_best and history["best_step"] is not None and best.is_dir()
    final = out / "final"
    if use_best:  # the best checkpoint becomes the final model (moved, not copied: ~0.5 GB)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(best, final)
    else:
        save_model(model, final)
    from babelir.training.card import write_model_card

    write_model_card(final, out, use_best)
    if config.merge < 1.0:
        merge_with_start(config, out)


def merge_with_start(config: TrainConfig, out: Path) -> None:
    """WiSE-FT (``config.merge`` = lambda): the selected model moves to ``tuned/`` and
    ``final/`` becomes ``(1 - lambda) * starting model + lambda * tuned`` (models/merge.py)."""
    from babelir.models.merge import merge_models
    from babelir.settings import cache_dir
    from babelir.training.card import model_name

    tuned, final = out / "tuned", out / "final"
    shutil.rmtree(tuned, ignore_errors=True)  # a tuned/ of an earlier finish of this run
    os.replace(final, tuned)
    merge_models(config.model, str(tuned), config.merge, final, cache_dir(config.cache_dir),
                 card_names=(model_name(config.model), "this run's tuned/ folder"))
    print(f"final/: WiSE-FT merge, (1 - {config.merge:g}) * {config.model} + "
          f"{config.merge:g} * {tuned}", flush=True)
