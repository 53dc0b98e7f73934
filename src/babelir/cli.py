"""The ``babelir`` command line."""

from __future__ import annotations

import argparse
import sys

from babelir.errors import BabelirError
from babelir.settings import CACHE_ENV, DATA_ENV


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Shows an option's default, "(default: X)", unless the help names one already or there
    is none worth showing (None, an empty value, the on/off of a switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or default is None or default is argparse.SUPPRESS
                or isinstance(default, bool) or default in ("", [], ())
                or "default" in text.lower()):
            return text
        return f"{text} (default: %(default)s)"


class BabelirParser(argparse.ArgumentParser):
    """The parser of ``babelir`` and of every subcommand (``add_subparsers`` makes its
    subparsers of the parent's class): help shows defaults (``DefaultsHelpFormatter``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _positive_int(value: str) -> int:
    """An argparse type: a whole number N >= 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _benchmark(value: str) -> str:
    from babelir.evaluation.registry import benchmark_entry, benchmark_usage

    try:
        benchmark_entry(value)
    except BabelirError:
        raise argparse.ArgumentTypeError(f"choose from {benchmark_usage()}") from None
    return value


def add_eval_parser(sub) -> None:
    """``babelir eval``. Every option but --model and --benchmark defaults to None (unset):
    ``run_eval_command`` refuses a given option that the benchmark and the retriever would not
    read; unset ones take ``EvalConfig``'s defaults (named in the help)."""
    from babelir.evaluation.registry import benchmark_usage
    from babelir.retrieval.dense import add_encoding_options
    from babelir.retrieval.tokenize import TOKENIZERS

    p = sub.add_parser("eval", help="evaluate a retriever (dense model or bm25) on a benchmark")
    p.add_argument("--model", default="multilingual-e5-small",
                   help="'bm25', 'multilingual-e5-small' (bundled), a HF id or a local folder")
    p.add_argument("--benchmark", default="xquad-r", type=_benchmark, help=benchmark_usage())
    p.add_argument("--corpus", help="MIRACL passages, JSONL[.gz] {docid,title,text}: '{lang}' in "
                   "the path is replaced, or a folder holding <lang>.jsonl.gz")
    p.add_argument("--index", choices=("exact", "hnsw", "ivfpq"),
                   help="MIRACL: faiss index over the sharded embeddings (default exact)")
    p.add_argument("--index-dir", help="MIRACL embeddings/indexes (default <cache>/miracl-index)")
    p.add_argument("--shard-size", type=int, help="MIRACL: embeddings per shard (default 50000)")
    p.add_argument("--embeddings-dtype", choices=("float32", "float16"),
                   help="MIRACL: stored embeddings (default float16)")
    p.add_argument("--out", help="output folder (default runs/<model>-<benchmark>)")
    p.add_argument("--data-dir", help=f"data folder laid out like upstream (default ${DATA_ENV})")
    p.add_argument("--cache-dir", help=f"cache folder (default ${CACHE_ENV} or ~/.cache/babelir)")
    p.add_argument("--languages", type=_csv, help="comma-separated subset, e.g. en,de,zh")
    p.add_argument("--max-articles", type=_positive_int,
                   help="keep the first N articles per language (N >= 1)")
    p.add_argument("--candidate-mode", choices=("sentence", "context"),
                   help="encode the sentence alone (default), or sentence + its paragraph "
                        "(LAReQA style)")
    p.add_argument("--max-length", type=int, help="max tokens per input (default 128)")
    add_encoding_options(p, unset=True)
    p.add_argument("--query-prefix", help="override the model's query prefix")
    p.add_argument("--passage-prefix", help="override the model's passage prefix")
    p.add_argument("--bm25-tokenizer", choices=tuple(TOKENIZERS),
                   help="tokeniser for bm25 (default xlmr; see README)")
    p.add_argument("--ap-k", type=int, help="k of XTREME-R's mAP@k (default 20)")
    p.add_argument("--device", help="cpu / cuda (default: cuda if available)")
    p.add_argument("--online", action="store_true", default=None,
                   help="download missing data files")
    p.add_argument("--no-embedding-cache", dest="embedding_cache", action="store_false",
                   default=None,
                   help="neither read nor write the on-disk embedding cache (default: use it)")
    flags = {a.dest: a.option_strings[0] for a in p._actions if a.option_strings}
    p.set_defaults(handler=run_eval_command, eval_flags=flags)


def run_eval_command(args: argparse.Namespace) -> int:
    from babelir.eval_job import EvalConfig, refuse_options, run_eval
    from babelir.evaluation.registry import make_benchmark

    fields = EvalConfig.__dataclass_fields__
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    config = EvalConfig(**given)
    refuse_options(config, [k for k in given if k not in ("model", "benchmark")],
                   args.eval_flags)
    results = run_eval(config)
    if results:
        print(make_benchmark(config.benchmark).report(results))
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


def add_data_parser(sub) -> None:
    from babelir.data.pairs import POSITIVE_MODES, SOURCE_HELP
    from babelir.retrieval.dense import add_encoding_options
    from babelir.training.leakage import KNOWN_BENCHMARKS

    data = sub.add_parser("data", help="build training data").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("build-pairs", help="parallel training pairs from QA data (Parquet)")
    p.add_argument("--source", action="append", required=True, help=SOURCE_HELP)
    p.add_argument("--out", required=True, help="output .parquet file")
    p.add_argument("--data-dir", help=f"data folder (default ${DATA_ENV})")
    p.add_argument("--positive", choices=POSITIVE_MODES, default="paragraph",
                   help="positive passage where answers exist (blanked answers: paragraph)")
    p.add_argument("--dev-fraction", type=float, default=0.05,
                   help="fraction of the articles in the dev split (split by article)")
    p.add_argument("--seed", type=int, default=0, help="seed of the dev split")
    p.add_argument("--languages", type=_csv,
                   help="keep only these languages, comma-separated (default: all)")
    p.add_argument("--benchmark", choices=KNOWN_BENCHMARKS,
                   help="refuse sources that leak into this benchmark (default: no check)")
    p.add_argument("--drop-overlap", type=_csv, metavar="BENCHMARK[,BENCHMARK...]",
                   help="remove every example that the leakage guard flags against these "
                        "benchmarks (xquad-r, mlqa-r, miracl; their files in the data folder, "
                        "as `babelir train` checks them) or validation pools (mlqa-val, "
                        "xnli-val, tydi-val: train on a pool's source without the pool); the "
                        "summary lists what went")
    p.set_defaults(handler=run_build_pairs_command)
    p = data.add_parser("mine-negatives",
                        help="add one hard negative per row (same language and dataset)")
    p.add_argument("--pairs", required=True, help="pairs .parquet from build-pairs")
    p.add_argument("--out", required=True, help="output .parquet (pairs + `negative`)")
    p.add_argument("--method", choices=("bm25", "model"), default="bm25",
                   help="rank candidate passages with BM25, or with a dense --model")
    p.add_argument("--model", help="dense model for --method model (e.g. multilingual-e5-small)")
    p.add_argument("--top-k", type=int, default=10, help="draw the negative from the top k")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw from the top k")
    add_encoding_options(p)
    p.set_defaults(handler=run_mine_negatives_command)


def run_build_pairs_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from babelir.data.pairs import build_pairs
    from babelir.settings import data_dir

    folder = data_dir(args.data_dir)
    if folder is None:
        raise BabelirError(f"no data folder: pass --data-dir or set ${DATA_ENV}")
    summary = build_pairs(args.source, folder, Path(args.out), positive=args.positive,
                          dev_fraction=args.dev_fraction, seed=args.seed,
                          languages=args.languages, benchmark=args.benchmark,
                          drop_overlap=args.drop_overlap)
    print(json.dumps({k: summary.get(k) for k in ("rows", "examples", "split")}, indent=2))
    removed = summary.get("drop_overlap")
    if removed is not None:
        reasons = {b: {c: v["examples"] for c, v in r["by_reason"].items() if v["examples"]}
                   for b, r in removed["by_benchmark"].items()}
        print(f"removed {removed['removed_examples']:,} examples ({removed['removed_rows']:,} "
              f"rows) overlapping {', '.join(removed['benchmarks'])}: {json.dumps(reasons)}")
    print(f"wrote {args.out}")
    return 0


def run_mine_negatives_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from babelir.data.pairs import is_pairs_output, load_pairs
    from babelir.io import check_output_file, write_parquet
    from babelir.retrieval.mining import mine_hard_negatives, mining_summary

    check_output_file(args.out, ours=is_pairs_output)  # a user's own file: never replaced
    mined = mine_hard_negatives(load_pairs(Path(args.pairs)), method=args.method,
                                model=args.model, top_k=args.top_k, seed=args.seed,
                                batch_size=args.batch_size, precision=args.precision,
                                backend=args.backend)
    write_parquet(mined, args.out)
    print(json.dumps(mining_summary(mined)["total"], indent=2))
    print(f"wrote {args.out}")
    return 0


def add_train_parser(sub) -> None:
    from babelir.training.config import add_config_flags

    p = sub.add_parser("train", help="fine-tune a bi-encoder with language-aware batches")
    p.add_argument("--config", help="YAML file of settings (every setting is also a flag)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    add_config_flags(p)
    p.set_defaults(handler=run_train_command)


def run_train_command(args: argparse.Namespace) -> int:
    from babelir.training.config import load_config
    from babelir.training.run import train

    config = load_config(args.config, vars(args), source="command line")
    final = train(config, resume=args.resume)
    print(f"model: {final}")
    return 0


def _unit_interval(value: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {value}")
    return number


def add_merge_parser(sub) -> None:
    p = sub.add_parser("merge", help="interpolate two models' weights (WiSE-FT): "
                                     "(1 - weight) * BASE + weight * TUNED")
    p.add_argument("base", help="base model: 'multilingual-e5-small' (bundled), a local "
                                "sentence-transformers folder, or a Hub id in the local HF "
                                "cache", metavar="BASE")
    p.add_argument("tuned", metavar="TUNED",
                   help="fine-tuned model of the same architecture (a sentence-transformers "
                        "folder); the output copies its folder (tokenizer, pooling, prompts)")
    p.add_argument("--weight", type=_unit_interval, required=True, metavar="LAMBDA",
                   help="interpolation weight in [0, 1]: 0 = BASE, 1 = TUNED")
    p.add_argument("--out", required=True,
                   help="output folder: a sentence-transformers model with babelir-merge.json")
    p.add_argument("--cache-dir", help=f"cache folder, where the bundled model is materialised "
                                       f"(default ${CACHE_ENV} or ~/.cache/babelir)")
    p.set_defaults(handler=run_merge_command)


def run_merge_command(args: argparse.Namespace) -> int:
    import json

    from babelir.models.merge import merge_models
    from babelir.settings import cache_dir

    record = merge_models(args.base, args.tuned, args.weight, args.out,
                          cache_dir(args.cache_dir))
    print(json.dumps({k: record[k] for k in ("weight", "parameters", "modules")}))
    print(f"wrote {record['out']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = BabelirParser(prog="babelir", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_eval_parser(sub)
    add_table_parser(sub)
    add_data_parser(sub)
    add_train_parser(sub)
    add_merge_parser(sub)
    from babelir.models.centre import add_centre_parser

    add_centre_parser(sub)
    from babelir.experiment import add_experiment_parser
    from babelir.report.experiment_report import add_report_parser

    add_experiment_parser(sub)
    add_report_parser(sub)
    from babelir.translate.cli import add_translate_parser

    add_translate_parser(sub)
    from babelir.retrieval.index_cli import add_index_parser, add_search_parser

    add_index_parser(sub)
    add_search_parser(sub)
    from babelir.training.publish import add_publish_parser

    add_publish_parser(sub)
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
