"""The ``babelir`` command line."""

from __future__ import annotations

import argparse
import sys

from babelir.errors import BabelirError
from babelir.settings import CACHE_ENV, DATA_ENV


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a retriever (dense model or bm25) on a benchmark")
    p.add_argument("--model", default="multilingual-e5-small",
                   help="'bm25', 'multilingual-e5-small' (bundled), a HF id or a local folder")
    p.add_argument("--benchmark", default="xquad-r", help="xquad-r or mlqa-r")
    p.add_argument("--out", help="output folder (default runs/<model>-<benchmark>)")
    p.add_argument("--data-dir", help=f"data folder laid out like upstream (default ${DATA_ENV})")
    p.add_argument("--cache-dir", help=f"cache folder (default ${CACHE_ENV} or ~/.cache/babelir)")
    p.add_argument("--languages", type=_csv, help="comma-separated subset, e.g. en,de,zh")
    p.add_argument("--max-articles", type=int, help="keep the first N articles per language")
    p.add_argument("--candidate-mode", choices=("sentence", "context"), default="sentence",
                   help="encode the sentence alone, or sentence + its paragraph (LAReQA style)")
    p.add_argument("--max-length", type=int, default=128, help="max tokens per input")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--query-prefix", help="override the model's query prefix")
    p.add_argument("--passage-prefix", help="override the model's passage prefix")
    p.add_argument("--bm25-tokenizer", help="tokeniser for bm25 (see README)")
    p.add_argument("--ap-k", type=int, default=20, help="k of XTREME-R's mAP@k (default 20)")
    p.add_argument("--device", help="cpu / cuda (default: cuda if available)")
    p.add_argument("--online", action="store_true", help="download missing data files")
    p.add_argument("--no-embedding-cache", dest="embedding_cache", action="store_false")
    p.set_defaults(handler=run_eval_command)


def run_eval_command(args: argparse.Namespace) -> int:
    from babelir.eval_job import EvalConfig, run_eval
    from babelir.report.tables import full_report

    fields = EvalConfig.__dataclass_fields__
    config = EvalConfig(**{k: v for k, v in vars(args).items() if k in fields})
    results = run_eval(config)
    print(full_report(results))
    t = results["timing_s"]
    print(f"wrote {results['out']}  (load {t['load']:.1f}s, retrieve {t['retrieve']:.1f}s, "
          f"metrics {t['metrics']:.1f}s)")
    return 0


def add_table_parser(sub) -> None:
    p = sub.add_parser("table", help="print Table 1 (Mo / Cr / Mul mAP, rank distance) of runs")
    p.add_argument("runs", nargs="+", help="run folders written by `babelir eval`")
    p.set_defaults(handler=run_table_command)


def run_table_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from babelir.report.tables import table1

    summaries = []
    for run in args.runs:
        path = Path(run) / "summary.json"
        if not path.is_file():
            raise BabelirError(f"{path} not found: is {run} a folder written by `babelir eval`?")
        summaries.append(json.loads(path.read_text(encoding="utf-8")))
    print(table1(summaries))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="babelir", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_eval_parser(sub)
    add_table_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BabelirError as exc:
        print(f"babelir: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
