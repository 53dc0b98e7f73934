"""The README's main job, kept: zero-shot bundled multilingual-e5-small and BM25 on XQuAD-R,
their raw results copied into results/xquad-r-zeroshot/. Then run make_results_page.py.

    python benchmarks/zero_shot_xquad_r.py
"""

from __future__ import annotations

from common import ROOT
from keep import keep_run

from babelir.eval_job import EvalConfig, run_eval

# model -> (run folder, as in scripts/main.sh; name under results/xquad-r-zeroshot/)
SYSTEMS = {"multilingual-e5-small": ("runs/me5-zeroshot", "me5-small-zeroshot"),
           "bm25": ("runs/bm25", "bm25")}


def main() -> None:
    for model, (run, name) in SYSTEMS.items():
        out = ROOT / run
        run_eval(EvalConfig(model=model, benchmark="xquad-r", out=str(out)))
        keep_run(out, ROOT / "results" / "xquad-r-zeroshot" / name)
        print(f"kept {name}")


if __name__ == "__main__":
    main()
