"""Shared set-up of the benchmark scripts: load XQuAD-R and score it (cached embeddings)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from babelir.data.lareqa import load_benchmark
from babelir.data.registry import get_benchmark
from babelir.eval_job import EvalConfig, bm25_scores, dense_scores
from babelir.evaluation.lareqa import ScoreMatrices
from babelir.io import git_commit, write_json
from babelir.settings import cache_dir, data_dir

ROOT = Path(__file__).resolve().parents[1]


def load_scores(model: str, benchmark: str = "xquad-r", languages=None, max_articles=None,
                candidate_mode: str = "sentence", max_length: int | None = 128):
    """The benchmark and its score matrices (dense embeddings come from the cache when warm)."""
    config = EvalConfig(model=model, benchmark=benchmark, languages=languages,
                        max_articles=max_articles, candidate_mode=candidate_mode,
                        max_length=max_length or 128)
    bench = load_benchmark(get_benchmark(benchmark), data_dir(), cache_dir(), languages,
                           max_articles)
    if model == "bm25":
        scorer, _ = bm25_scores(bench, config)
    else:
        scorer, _ = dense_scores(bench, config, cache_dir())
    return bench, ScoreMatrices(*scorer.block(0, scorer.n_queries))  # the scripts want matrices


def machine() -> dict:
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__}


def save(name: str, payload: dict) -> Path:
    """Write a benchmark's raw result under results/benchmarks/<name>.json with provenance."""
    path = ROOT / "results" / "benchmarks" / f"{name}.json"
    command = " ".join([Path(sys.argv[0]).resolve().relative_to(ROOT).as_posix()
                        if Path(sys.argv[0]).resolve().is_relative_to(ROOT) else sys.argv[0],
                        *sys.argv[1:]])
    write_json(path, {**payload, "command": command, "machine": machine(),
                      "git_commit": git_commit(),
                      "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")})
    print(json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path
