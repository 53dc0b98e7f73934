"""Train one config, evaluate its final model on XQuAD-R, keep both under results/.

Skips the training when the run already has a final model, and resumes it when it has a
checkpoint (so a run can be finished over several sittings).

    python benchmarks/train_eval.py configs/hybrid.yaml --name hybrid-seed0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import ROOT
from keep import keep_training_run

from babelir.eval_job import EvalConfig, run_eval
from babelir.training.checkpoint import latest_checkpoint
from babelir.training.config import load_config
from babelir.training.run import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config")
    parser.add_argument("--name", required=True, help="folder under results/xquad-r-trained/")
    parser.add_argument("--benchmark", default="xquad-r")
    args = parser.parse_args()
    config = load_config(args.config, {})
    run = Path(config.out)
    if not (run / "final" / "model.safetensors").is_file():
        resume = latest_checkpoint(run / "checkpoints") is not None
        train(config, resume=resume)
    evaluation = Path(f"{run}-eval-{args.benchmark}")
    run_eval(EvalConfig(model=str(run / "final"), benchmark=args.benchmark, out=str(evaluation),
                        max_length=config.max_length))
    target = keep_training_run(run, evaluation, ROOT / "results" / f"{args.benchmark}-trained" / args.name)
    print(f"kept {target}")


if __name__ == "__main__":
    main()
