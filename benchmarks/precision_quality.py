"""Quality guard of the encoding precisions: XQuAD-R evaluated with each (precision, backend)
from a cold embedding cache, Mo / Cr / Mul mAP and rank distance beside PyTorch fp32.

A precision whose mAP moves by more than 0.003 in any setting may not be the default
(README, "Encoding precision"). bf16 runs on a subset of articles when the CPU has no bf16
instructions (it is several times slower than fp32 there); its fp32 reference then runs on
the same subset.

    python benchmarks/precision_quality.py [--only fp32-torch,int8-onnx] [--max-articles N]
"""

from __future__ import annotations

import argparse
import json
import time

from common import ROOT, save

from babelir.eval_job import EvalConfig, run_eval

SYSTEMS = {  # name: (precision, backend)
    "fp32-torch": ("fp32", "torch"),
    "fp32-onnx": ("fp32", "onnx"),
    "int8-onnx": ("int8", "onnx"),
    "bf16-torch": ("bf16", "torch"),
}
KEYS = ("mono.map", "cross.map", "multi.map", "multi.rank_distance")
GUARD = 0.003


def evaluate(name: str, max_articles: int | None) -> dict:
    precision, backend = SYSTEMS[name]
    out = ROOT / "runs" / "precision" / (name + (f"-a{max_articles}" if max_articles else ""))
    config = EvalConfig(model="multilingual-e5-small", benchmark="xquad-r", out=str(out),
                        precision=precision, backend=backend, max_articles=max_articles,
                        embedding_cache=False)
    started = time.perf_counter()
    results = run_eval(config)
    summary = results["summary"]
    return {"precision": precision, "backend": backend, "max_articles": max_articles,
            **{k: summary[k] for k in KEYS}, "n_queries": summary["n_queries"],
            "encode_and_score_s": results["timing_s"]["retrieve"],
            "total_s": time.perf_counter() - started}


def deltas(rows: dict, reference: str) -> None:
    """Each row's change against the reference row measured on the same texts."""
    for name, row in rows.items():
        ref = rows.get(reference if not row["max_articles"] else f"{reference}-subset")
        if ref is None or ref is row:
            continue
        row["delta_vs_fp32_torch"] = {k: row[k] - ref[k] for k in KEYS}
        row["passes_guard"] = all(abs(row["delta_vs_fp32_torch"][k]) <= GUARD for k in KEYS[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated systems (default: all full-size ones)")
    parser.add_argument("--bf16-articles", type=int, default=2,
                        help="articles per language for bf16 and its fp32 reference")
    args = parser.parse_args()
    path = ROOT / "results" / "benchmarks" / "encode_precision.json"
    rows = json.loads(path.read_text())["systems"] if path.is_file() else {}
    wanted = args.only.split(",") if args.only else list(SYSTEMS)
    for name in wanted:
        if name == "bf16-torch":
            rows["fp32-torch-subset"] = evaluate("fp32-torch", args.bf16_articles)
            rows[name] = evaluate(name, args.bf16_articles)
        else:
            rows[name] = evaluate(name, None)
        print(name, json.dumps(rows[name]), flush=True)
    deltas(rows, "fp32-torch")
    save("encode_precision", {"benchmark": "xquad-r", "guard": GUARD, "systems": rows})


if __name__ == "__main__":
    main()
