"""`babelir train --precision bf16` against fp32: step time and the dev-loss curve of the same
seed, same batches, in one run (results/benchmarks/train_precision.json).

The two runs alternate in short legs (``--stop-after``, then ``--resume``), so a change in the
machine's load hits both alike. Step time: min / median / max over the steps after the first
(which allocates the optimizer state). On a CPU without bf16 instructions a bf16 step at batch
32 takes minutes: keep ``--steps`` small there. Dev loss is computed in fp32 for both,
every ``--eval-every`` steps, on the same fixed dev batches.

    python benchmarks/bench_train_precision.py --pairs runs/data/pairs-mlqa-tydi.parquet
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from common import save

from babelir.training.config import load_config
from babelir.training.run import train


def step_stats(run: Path) -> dict:
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    seconds = [e["seconds"] for e in log[1:]]
    return {"min_s": min(seconds), "median_s": statistics.median(seconds),
            "max_s": max(seconds), "steps_s": [e["seconds"] for e in log],
            "train_loss": [e["loss"] for e in log]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--leg", type=int, default=5, help="steps per alternating leg")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dev-batches", type=int, default=8)
    args = parser.parse_args()
    precisions = ("fp32", "bf16")
    with tempfile.TemporaryDirectory() as tmp:
        configs = {p: dict(pairs=args.pairs, model=args.model, out=str(Path(tmp) / p),
                           steps=args.steps, batch_size=args.batch_size, precision=p,
                           eval_every=args.eval_every, save_every=args.leg, device="cpu",
                           dev_batches=args.dev_batches,
                           allow_leakage=True, seed=0) for p in precisions}
        for stop in range(args.leg, args.steps + 1, args.leg):
            for p in precisions:
                train(load_config(None, {**configs[p], "stop_after": stop}), resume=stop > args.leg)
        rows = {}
        for p in precisions:
            history = json.loads((Path(tmp) / p / "history.json").read_text())
            rows[p] = {**step_stats(Path(tmp) / p), "dev_loss": history["dev"]}
    speedup = rows["fp32"]["median_s"] / rows["bf16"]["median_s"]
    gap = max(abs(a["dev_loss"] - b["dev_loss"])
              for a, b in zip(rows["fp32"]["dev_loss"], rows["bf16"]["dev_loss"]))
    save("train_precision", {
        "model": args.model, "batch_size": args.batch_size, "steps": args.steps,
        "max_length": 128, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "speedup_bf16_over_fp32": speedup, "max_dev_loss_gap": gap, "runs": rows,
    })


if __name__ == "__main__":
    main()
