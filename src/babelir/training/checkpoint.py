"""Checkpoints that make ``--resume`` reproduce the uninterrupted run exactly: model weights,
optimizer and scheduler state, sampler position and every random state."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch

from babelir.io import atomic_dir

STATE_FILE = "trainer_state.pt"


def save_checkpoint(folder: Path, model, optimizer, scheduler, sampler, step: int,
                    extra: dict) -> Path:
    """Write ``folder/step-<step>`` atomically and drop older step folders."""
    target = folder / f"step-{step:07d}"
    with atomic_dir(target) as tmp:
        model.save(str(tmp / "model"), create_model_card=False)
        torch.save({
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "sampler": sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(),
            "python_rng": random.getstate(),
            **extra,
        }, tmp / STATE_FILE)
    for old in folder.glob("step-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(p for p in folder.glob("step-*") if (p / STATE_FILE).is_file())
    return found[-1] if found else None


def load_checkpoint(path: Path, model, optimizer, scheduler, sampler) -> dict:
    """Restore everything saved by ``save_checkpoint``; returns the saved dict."""
    from safetensors.torch import load_file

    weights = load_file(str(path / "model" / "model.safetensors"))
    result = model[0].auto_model.load_state_dict(weights, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("pooler.")]
    if missing or result.unexpected_keys:
        raise RuntimeError(f"checkpoint {path} does not fit the model: missing {missing[:3]}, "
                           f"unexpected {result.unexpected_keys[:3]}")
    state = torch.load(path / STATE_FILE, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    sampler.load_state_dict(state["sampler"])
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    return state
