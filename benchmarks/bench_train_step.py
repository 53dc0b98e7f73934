"""Step time of `babelir train` against a plain sentence-transformers
MultipleNegativesRankingLoss loop on the very same batches, in one run (ratio ≤ 1.05 wanted).

Both start from the same model and settings (frozen word embeddings, max length 128, AdamW,
scale 1/0.05); the plain loop is the minimum: tokenize, loss, backward, step. Medians over
steps, after the first (optimizer state allocation) is dropped.

    python benchmarks/bench_train_step.py --pairs runs/data/pairs-mlqa-tydi.parquet
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import save

from babelir.training.config import load_config
from babelir.training.examples import TrainingTexts
from babelir.training.batches import features
from babelir.training.run import build_sampler, load_model, load_training_pairs, train


def plain_steps(config, steps: int) -> list[float]:
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(config.seed)
    model, choice = load_model(config, "cpu")
    data = TrainingTexts.from_pairs(load_training_pairs(config)[0])
    sampler = build_sampler(config, data, config.seed)
    loss_fn = MultipleNegativesRankingLoss(model, scale=1 / config.temperature)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=config.learning_rate)
    model.train()
    times = []
    for step in range(steps):
        start = time.perf_counter()
        queries, positives, _ = data.batch_texts(sampler.batch(step))
        loss = loss_fn([features(model, queries, choice.query_prefix, "cpu"),
                        features(model, positives, choice.passage_prefix, "cpu")], None)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(None, dict(
            pairs=args.pairs, model=args.model, out=str(Path(tmp) / "run"), steps=args.steps,
            batch_size=args.batch_size, eval_every=0, save_every=10**6, device="cpu",
            allow_leakage=True, max_grad_norm=0.0, warmup_ratio=0.0))
        plain_before = plain_steps(config, args.steps)
        train(config)
        ours = [json.loads(line)["seconds"]
                for line in (Path(tmp) / "run" / "train_log.jsonl").read_text().splitlines()]
        plain_after = plain_steps(config, args.steps)
    plain = plain_before[1:] + plain_after[1:]
    ours_median, plain_median = statistics.median(ours[1:]), statistics.median(plain)
    save("train_step_time", {
        "model": args.model, "batch_size": args.batch_size, "steps": args.steps,
        "max_length": config.max_length, "freeze_embeddings": config.freeze_embeddings,
        "babelir_median_step_s": ours_median, "plain_st_median_step_s": plain_median,
        "ratio_babelir_over_plain": ours_median / plain_median,
        "babelir_steps_s": ours, "plain_steps_s": plain_before + plain_after,
    })


if __name__ == "__main__":
    main()
