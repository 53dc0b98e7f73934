"""``Trainer``: the loop of one training run — ``step``, ``evaluate``, ``save``, ``fit``.

A small class of our own rather than sentence-transformers' ``SentenceTransformerTrainer``:
babelir's guarantee is that a run stopped at any checkpoint and resumed (``--resume``) gives
the uninterrupted run's weights bit for bit, and that every process of a multi-GPU run takes
its shard of ONE global batch drawn by a language-aware sampler for that step. The HF trainer
owns the data loader and the RNG state and resumes by skipping batches of its own loader; our
samplers draw step-keyed batches (``BatchSampler.batches(start)``), so the loop is ~100 lines
here and the loss, the model and the evaluator are the library's (``training.losses``,
``evaluation.LAReQAEvaluator``). The step-time ratio against the plain loop is unchanged
(the same calls in the same order).

Model selection (``select_on``):

- ``dev_loss``: the lowest InfoNCE loss on fixed batches of the pairs' dev split;
- ``<benchmark>:<metric>``: the highest (lowest for ``rank_distance``) validation metric of
  ``LAReQAEvaluator`` on a validation pool built from the training side (``mlqa-val``,
  ``xnli-val``; never an evaluation benchmark), e.g. ``mlqa-val:multi_map``, or
  ``mlqa-val:mean_map`` = (Mo mAP + Cr mAP + Mul mAP) / 3.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from babelir.errors import BabelirError
from babelir.sampling import shard
from babelir.training.batches import batch_features, dev_loss, parallel_features, save_model
from babelir.training.checkpoint import resume_checkpoint, save_checkpoint

VALIDATION_POOLS = ("mlqa-val", "xnli-val", "tydi-val")
MEAN_MAP = "mean_map"


def parse_select_on(value: str) -> tuple[str, str] | None:
    """None for ``dev_loss``, else (validation pool, metric); a BabelirError if unknown."""
    if value == "dev_loss":
        return None
    from babelir.evaluation.metric_names import metric_names

    pool, _, metric = value.partition(":")
    if pool not in VALIDATION_POOLS or metric not in (*metric_names(), MEAN_MAP):
        raise BabelirError(f"select_on must be dev_loss or <pool>:<metric> with pool in "
                           f"{', '.join(VALIDATION_POOLS)} and metric e.g. {MEAN_MAP}, "
                           f"multi_map, cross_map, mono_map, multi_rank_distance; got {value!r}")
    return pool, metric


class Validator:
    """The validation score of the model: one LAReQAEvaluator on a training-side pool."""

    def __init__(self, pool: str, metric: str, config):
        from babelir.evaluation.st_evaluator import LAReQAEvaluator

        self.metric = metric
        self.evaluator = LAReQAEvaluator(pool, name="", max_length=config.max_length,
                                         data_dir=config.data_dir, cache_dir=config.cache_dir,
                                         write_csv=False)
        try:  # a pool the data folder lacks: an error before step 1, with the way out
            self.evaluator.benchmark_data  # a property: loads the pool once
        except BabelirError as exc:
            raise BabelirError(f"select_on {pool}:{metric}: {exc}; or select checkpoints "
                               "without a validation pool: --select-on dev_loss") from None
        self.lower_is_better = metric.endswith("rank_distance")

    def __call__(self, model) -> tuple[float, dict]:
        metrics = self.evaluator.compute_metrics(model)
        if self.metric == MEAN_MAP:
            # nanmean: Cr is NaN on a monolingual pool (tydi-val)
            score = float(np.nanmean([metrics[f"{s}_map"] for s in ("mono", "cross", "multi")]))
        else:
            score = metrics[self.metric]
        return score, {k: metrics[k] for k in sorted(metrics) if k.endswith(("_map", "distance"))}


class Trainer:
    """One run: the model, its loss and optimiser, the sampler, the checks, the run folder."""

    def __init__(self, config, accelerator, model, choice, data, sampler, loss_fn, out: Path,
                 dev=None, parallel=None, validator: Validator | None = None):
        from transformers import get_linear_schedule_with_warmup

        self.config, self.accelerator, self.model, self.choice = config, accelerator, model, choice
        self.data, self.sampler, self.loss_fn, self.out = data, sampler, loss_fn, out
        self.dev, self.parallel, self.validator = dev, parallel, validator
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate,
                                           weight_decay=config.weight_decay)
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, math.ceil(config.warmup_ratio * config.steps), config.steps)
        self.loss_module = accelerator.prepare(loss_fn)  # DDP over the loss (holds the model)
        self.history = {"dev": [], "best_step": None, "best_dev_loss": None,
                        "select_on": config.select_on}
        self.rank, self.world = accelerator.process_index, accelerator.num_processes

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"

    def resume(self) -> int:
        """Load the newest intact checkpoint; returns its step."""
        state = resume_checkpoint(self.checkpoints, self.model, self.optimizer, self.scheduler,
                                  self.sampler)
        self.history = state["history"]
        if self.accelerator.scaler is not None and state.get("scaler"):
            self.accelerator.scaler.load_state_dict(state["scaler"])
        return state["step"]

    def step(self, step: int, global_batch) -> dict:
        """One optimiser step on this rank's shard of the step's global batch."""
        began = time.perf_counter()
        config, device = self.config, self.accelerator.device
        batch = shard(global_batch, self.rank, self.world)
        inputs = batch_features(self.model, self.choice, self.data, batch, device)
        extra = parallel_features(self.model, self.parallel, step, config, self.choice,
                                  self.rank, self.world, device)
        loss_tensor = self.loss_module(inputs, None, parallel=extra) if extra is not None \
            else self.loss_module(inputs, None)
        self.accelerator.backward(loss_tensor)
        loss = loss_tensor.item()
        if config.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.params, config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        record = {"step": step + 1, "loss": loss, "kind": batch.kind,
                  "lr": self.scheduler.get_last_lr()[0],
                  "seconds": time.perf_counter() - began}
        parts = getattr(self.loss_fn, "parts", None)
        return {**record, "parts": parts} if parts else record

    def evaluate(self, done: int) -> None:
        """Dev loss (and the validation metrics, with ``select_on`` a pool); the best model so
        far is saved to ``best/``."""
        entry = {"step": done}
        if self.dev is not None:
            loss_fn, dev_data, sampler = self.dev
            entry["dev_loss"] = dev_loss(self.model, loss_fn, self.choice, dev_data, sampler,
                                         self.config.dev_batches, self.accelerator.device)
        if self.validator is not None:
            self.model.eval()
            entry["score"], entry["validation"] = self.validator(self.model)
            self.model.train()
        if "score" not in entry and "dev_loss" not in entry:
            return
        self.history["dev"].append(entry)
        if self.accelerator.is_main_process:
            shown = {k: round(v, 4) for k, v in entry.items() if k in ("dev_loss", "score")}
            tqdm.write(f"step {done}: {json.dumps(shown)}")
        if self._is_best(entry):
            self.history["best_step"] = done
            self.history["best_dev_loss"] = entry.get("dev_loss")
            self.history["best_score"] = entry.get("score")
            if self.accelerator.is_main_process:
                save_model(self.model, self.out / "best")

    def _is_best(self, entry: dict) -> bool:
        if self.history["best_step"] is None:
            return True
        if self.validator is None:
            return entry["dev_loss"] < self.history["best_dev_loss"]
        best = self.history["best_score"]
        return entry["score"] < best if self.validator.lower_is_better else entry["score"] > best

    def save(self, done: int) -> None:
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            scaler = self.accelerator.scaler.state_dict() if self.accelerator.scaler else None
            save_checkpoint(self.checkpoints, self.model, self.optimizer, self.scheduler,
                            self.sampler, done, {"history": self.history, "scaler": scaler})

    def fit(self, start: int, stop: int, log, batch_log) -> None:
        """Steps ``start`` .. ``stop - 1``, evaluating and checkpointing on schedule."""
        config = self.config
        self.model.train()
        bar = tqdm(range(start, stop), initial=start, total=config.steps, desc="train",
                   disable=not self.accelerator.is_main_process)
        for step, global_batch in zip(bar, self.sampler.batches(start)):
            record = self.step(step, global_batch)
            done = record["step"]
            if batch_log is not None:
                batch = shard(global_batch, self.rank, self.world)
                batch_log.write(json.dumps({"step": step, "examples": [
                    self.data.pool.example_ids[i] for i in batch.example_idx]}) + "\n")
            if log is not None:
                log.write(json.dumps(record) + "\n")
                log.flush()
            bar.set_postfix(loss=f"{record['loss']:.3f}",
                            pairs_per_s=f"{config.batch_size / record['seconds']:.1f}")
            if config.eval_every and (done % config.eval_every == 0 or done == config.steps):
                self.evaluate(done)
            if done % config.save_every == 0 or done == stop:
                self.save(done)
        bar.close()
