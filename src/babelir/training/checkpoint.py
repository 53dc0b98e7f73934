"""Checkpoints that make ``--resume`` reproduce the uninterrupted run exactly: model weights,
optimizer and scheduler state, sampler position and every random state.

A checkpoint is ``checkpoints/step-<step>/``: ``model/`` (sentence-transformers folder,
safetensors weights), ``trainer_state.pt`` (plain tensors, numbers, strings, lists and dicts
only: it is read with ``torch.load(weights_only=True)``, which runs no code from the file)
and ``checkpoint.json`` (size and SHA-256 of every file). It is written whole (``atomic_dir``)
before older ones are removed, and the last two are kept: a damaged newest checkpoint (its
files no longer match ``checkpoint.json``, or cannot be read) is skipped with a warning and
the one before it resumed. A LoRA run's ``model/`` holds the merged weights (a plain model,
like every other) and ``trainer_state.pt`` the adapter factors, which resume puts back on the
starting model (training/lora.py).
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from babelir.errors import BabelirError
from babelir.io import MARKER, atomic_dir, sha256_of, write_json
from babelir.training import lora

STATE_FILE = "trainer_state.pt"
MANIFEST = "checkpoint.json"
FORMAT = 2  # 1: trainer_state.pt held pickled numpy / Python objects (not loadable safely)
KEEP = 2  # checkpoints kept: the newest, and the one before it in case the newest is damaged


def _rng_state() -> dict:
    """Every random state, as tensors / lists / numbers (loadable with weights_only=True)."""
    numpy_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "numpy": {"bit_generator": numpy_state["bit_generator"],
                      "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                      "pos": int(numpy_state["state"]["pos"]),
                      "has_gauss": int(numpy_state["has_gauss"]),
                      "gauss": float(numpy_state["gauss"])},
            "python": [version, list(internal), gauss]}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state({"bit_generator": numpy_state["bit_generator"],
                         "state": {"key": numpy_state["key"].numpy().astype(np.uint32),
                                   "pos": numpy_state["pos"]},
                         "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]})
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _step_of(path: Path) -> int:
    return int(path.name.split("-", 1)[1])


def step_folders(folder: Path) -> list[Path]:
    """``step-*`` folders under ``folder``, newest first."""
    found = [p for p in Path(folder).glob("step-*") if p.is_dir()
             and p.name.split("-", 1)[1].isdigit()]
    return sorted(found, key=_step_of, reverse=True)


def _manifest(folder: Path) -> dict:
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.name not in (MANIFEST, MARKER))
    return {rel.as_posix(): {"size": p.stat().st_size, "sha256": sha256_of(p)}
            for p in files for rel in [p.relative_to(folder)]}


def save_checkpoint(folder: Path, model, optimizer, scheduler, sampler, step: int,
                    extra: dict) -> Path:
    """Write ``folder/step-<step>`` atomically, then drop all but the last ``KEEP``."""
    target = folder / f"step-{step:07d}"
    with atomic_dir(target, legacy=lambda p: (p / STATE_FILE).is_file()) as tmp:
        lora.plain_model(model).save(str(tmp / "model"), create_model_card=False)
        state = {"format": FORMAT, "step": step, "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "sampler": sampler.state_dict(),
                 "rng": _rng_state(), **extra}
        if lora.has_lora(model):  # model/ holds the merged weights; resume needs the factors
            state[lora.KEY] = lora.lora_state(model)
            state[lora.BASE_KEY] = lora.base_sum(model)
        torch.save(state, tmp / STATE_FILE)
        _read_state(tmp / STATE_FILE)  # fails now, not at resume, if it is not plain data
        write_json(tmp / MANIFEST, {"format": FORMAT, "step": step, "files": _manifest(tmp)})
    # the new one is in place: keep it and the newest older one; later steps (of a run
    # restarted from an earlier checkpoint) and the rest go
    older = [p for p in step_folders(folder) if _step_of(p) < step][:KEEP - 1]
    for old in step_folders(folder):
        if old != target and old not in older:
            shutil.rmtree(old, ignore_errors=True)
    return target


def verify_checkpoint(path: Path, digests: bool = True) -> None:
    """BabelirError naming the file unless every file matches ``checkpoint.json`` (sizes;
    and SHA-256 with ``digests``)."""
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BabelirError(f"checkpoint {path}: no readable {MANIFEST} (unfinished, damaged, "
                           f"or written by an older babelir): {exc}") from None
    for name, expected in files.items():
        file = path / name
        size = file.stat().st_size if file.is_file() else None
        if size != expected["size"]:
            raise BabelirError(f"checkpoint file {file} is damaged or truncated: "
                               f"{size} bytes, expected {expected['size']}")
        if digests and sha256_of(file) != expected["sha256"]:
            raise BabelirError(f"checkpoint file {file} is damaged: its SHA-256 differs from "
                               f"the one recorded in {manifest_path}")


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint whose files are all there at their recorded sizes (a quick
    check; ``load_checkpoint`` verifies the digests)."""
    for path in step_folders(folder):
        try:
            verify_checkpoint(path, digests=False)
        except BabelirError:
            continue
        return path
    return None


def _read_state(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling refusals come as several types
        raise BabelirError(f"checkpoint file {path} cannot be read as plain data (refused by "
                           f"torch.load(weights_only=True)): {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise BabelirError(f"checkpoint file {path} is not a babelir checkpoint state of "
                           f"format {FORMAT}")
    return state


def read_checkpoint(path: Path) -> tuple[dict, dict]:
    """(model weights, trainer state) of a verified checkpoint; BabelirError naming the file
    when anything is missing, damaged or not plain data. Nothing is applied yet."""
    from safetensors.torch import load_file

    verify_checkpoint(path)
    weights_path = path / "model" / "model.safetensors"
    try:
        weights = load_file(str(weights_path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise BabelirError(f"checkpoint file {weights_path} cannot be read: {exc}") from None
    return weights, _read_state(path / STATE_FILE)


def load_checkpoint(path: Path, model, optimizer, scheduler, sampler) -> dict:
    """Restore everything saved by ``save_checkpoint``; returns the saved dict."""
    return _apply(path, *read_checkpoint(path), model, optimizer, scheduler, sampler)


def _apply(path: Path, weights: dict, state: dict, model, optimizer, scheduler,
           sampler) -> dict:
    if lora.has_lora(model) != (lora.KEY in state):
        raise BabelirError(f"checkpoint {path} does not fit the model: one of them has LoRA "
                           "adapters, the other not")
    if lora.KEY in state:  # the frozen base is the starting model, loaded already
        lora.load_lora_state(model, state[lora.KEY], state.get(lora.BASE_KEY), str(path))
    else:
        result = model[0].auto_model.load_state_dict(weights, strict=False)
        missing = [k for k in result.missing_keys if not k.startswith("pooler.")]
        if missing or result.unexpected_keys:
            raise BabelirError(f"checkpoint {path} does not fit the model: missing "
                               f"{missing[:3]}, unexpected {result.unexpected_keys[:3]}")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    sampler.load_state_dict(state["sampler"])
    _set_rng_state(state["rng"])
    return state


def resume_checkpoint(folder: Path, model, optimizer, scheduler, sampler) -> dict:
    """Load the newest checkpoint that reads back intact, warning about any skipped; a clear
    error when none does."""
    problems = []
    for path in step_folders(folder):
        try:
            weights, state = read_checkpoint(path)
        except BabelirError as exc:
            problems.append(str(exc))
            print(f"babelir: warning: skipping checkpoint {path}: {exc}", file=sys.stderr)
            continue
        return _apply(path, weights, state, model, optimizer, scheduler, sampler)
    raise BabelirError(f"--resume: no intact checkpoint under {folder}"
                       + (f" ({'; '.join(problems)})" if problems else ""))


# ---------------------------------------------------------------------- the run folder
#: TrainConfig fields that ``--resume`` may change, because they do not change the trained
#: model: where things are (``out``, ``data_dir``, ``cache_dir``; ``pairs`` is a path, so its
#: content is compared instead, by the SHA-256 recorded in run.json), how the run is driven
#: (``device``, ``stop_after``, ``save_every``: when checkpoints are written) and debugging
#: output (``log_batches``). Every other field must equal the run's config.yaml: the model and
#: prefixes, the data selection and sampler (strategy, alpha, dataset_temperature, languages,
#: batch_size, hard_negatives), the optimisation (steps, learning_rate, weight_decay,
#: warmup_ratio, max_grad_norm, seed), the loss (temperature, cached_loss, mini_batch_size),
#: max_length, freeze_embeddings, precision, the dev evaluation (eval_every, dev_batches,
#: select_best: they pick the final model) and the leakage settings (benchmark,
#: allow_leakage: the run's record stays one story). A field added to TrainConfig later is
#: compared too (missing from an older config.yaml, it counts as its default).
RESUME_MAY_CHANGE = ("out", "pairs", "data_dir", "cache_dir", "device", "stop_after",
                     "save_every", "log_batches")


def _saved_settings(path: Path) -> dict:
    import yaml

    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BabelirError(f"--resume: cannot read {path}: {exc}") from None
    if not isinstance(saved, dict):
        raise BabelirError(f"--resume: {path} is not a mapping of settings")
    return saved


def check_resume(config) -> Path:
    """Before anything is written: the run folder's config.yaml holds the same settings as
    ``config`` (all but ``RESUME_MAY_CHANGE``), its pairs file is the same (SHA-256 in
    run.json), and it has a checkpoint. Returns the newest checkpoint (quick check)."""
    from babelir.training.config import implied_settings

    out = Path(config.out)
    saved_path = out / "config.yaml"
    if not saved_path.is_file():
        raise BabelirError(f"--resume: {saved_path} not found: is {out} the folder of a "
                           "`babelir train` run?")
    saved, now = implied_settings(_saved_settings(saved_path)), config.to_dict()
    diff = [f"{k}: {saved.get(k)!r} in the run, {now.get(k)!r} now"
            for k in dict.fromkeys([*now, *saved]) if k not in RESUME_MAY_CHANGE
            and saved.get(k) != now.get(k)]
    if diff:
        raise BabelirError(f"--resume: {out} was trained with other settings "
                           f"({'; '.join(diff)}); resume it with the settings of {saved_path}, "
                           "or start a new run with another --out")
    run_json = out / "run.json"
    recorded = json.loads(run_json.read_text(encoding="utf-8")).get("pairs_sha256") \
        if run_json.is_file() else None
    if recorded and sha256_of(config.pairs) != recorded:
        raise BabelirError(f"--resume: the pairs file {config.pairs} is not the one {out} was "
                           f"trained on (its SHA-256 differs from {run_json}'s pairs_sha256)")
    found = latest_checkpoint(out / "checkpoints")
    if found is None:
        steps = [p.name for p in step_folders(out / "checkpoints")]
        raise BabelirError(f"--resume: no intact checkpoint under {out / 'checkpoints'}"
                           + (f" ({', '.join(steps)}: damaged, unfinished or written by an "
                              "older babelir)" if steps else ""))
    return found


def check_new_run_folder(out: Path) -> None:
    """A new run (no ``--resume``) goes into a folder that is absent, empty or babelir's, and
    never over the checkpoints or the trained model of an earlier run."""
    from babelir.io import check_output_folder

    check_output_folder(out, legacy=lambda p: (p / "config.yaml").is_file()
                        and (p / "run.json").is_file())
    earlier = [name for name in ("checkpoints", "final", "best")
               if (out / name).is_dir() and any((out / name).iterdir())]
    if earlier:
        raise BabelirError(f"{out} holds {' and '.join(earlier)} of an earlier run: pass "
                           "--resume to continue it, or choose another --out (or remove it "
                           "yourself)")
