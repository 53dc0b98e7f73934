"""What one training step feeds the model: the tokenised features of a sampler batch (queries,
positives, hard negatives) and of the step's parallel-sentence pairs, the dev loss on fixed
batches, and the model's save. Shared by ``training.trainer`` (the loop) and
``training.run`` (the set-up around it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from babelir.io import atomic_dir
from babelir.training.examples import TrainingTexts
from babelir.training.lora import plain_model

if TYPE_CHECKING:
    from babelir.training.config import TrainConfig


def parallel_features(model, parallel, step: int, config: TrainConfig, choice, rank: int,
                      world: int, device):
    """(source, translation) features of the step's parallel pairs, this rank's share."""
    if parallel is None:
        return None
    sources, translations, sides = parallel.batch(step, config.parallel_batch_size, config.seed)
    prefixes = [choice.query_prefix if side == 0 else choice.passage_prefix for side in sides]
    mine = slice(rank, None, world)
    return (features(model, [p + t for p, t in zip(prefixes, sources)][mine], "", device),
            features(model, [p + t for p, t in zip(prefixes, translations)][mine], "", device))


def features(model, texts: list[str], prefix: str, device) -> dict:
    """Tokenised inputs on ``device``, as the sentence-transformers losses take them."""
    prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 6
    tokens = prepare([prefix + t for t in texts])
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in tokens.items()}


def batch_features(model, choice, data: TrainingTexts, batch, device) -> list[dict]:
    queries, positives, negatives = data.batch_texts(batch)
    out = [features(model, queries, choice.query_prefix, device),
           features(model, positives, choice.passage_prefix, device)]
    if negatives is not None:
        out.append(features(model, negatives, choice.passage_prefix, device))
    return out


@torch.no_grad()
def dev_loss(model, loss_fn, choice, data, sampler, n_batches: int, device) -> float:
    """Mean InfoNCE loss on fixed dev batches (dropout off)."""
    model.eval()
    losses = [float(loss_fn(batch_features(model, choice, data, sampler.batch(i), device),
                            None)) for i in range(n_batches)]
    model.train()
    return float(np.mean(losses))


def save_model(model, folder: Path) -> None:
    from babelir.models.registry import declare_no_pooler

    with atomic_dir(folder, legacy=lambda p: (p / "modules.json").is_file()) as tmp:
        plain_model(model).save(str(tmp), create_model_card=False)  # LoRA: merged
        declare_no_pooler(tmp)  # loads without a pooler, as it was trained (a clean load)
