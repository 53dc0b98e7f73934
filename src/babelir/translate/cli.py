"""``babelir translate``: machine-translate QA data into parallel training data."""

from __future__ import annotations

import argparse

SOURCE_HELP = ("tydiqa-goldp:<lang>[:train|:dev] (TyDi GoldP file in the data folder, default "
               "train), a SQuAD .json (language: --source-lang, default en) or a .jsonl file")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_translate_parser(sub) -> None:
    p = sub.add_parser("translate", help="machine-translate QA (question + each context "
                       "sentence) into other languages: parallel training data (JSONL)")
    p.add_argument("--source", required=True, help=SOURCE_HELP)
    p.add_argument("--source-lang", help="language of a .json/.jsonl source (default en)")
    p.add_argument("--to", required=True, type=_csv, help="target languages, e.g. es,ca,gl")
    p.add_argument("--engine", default="apertium", help="apertium or hf:<model id or folder> "
                   "(NLLB, M2M-100, Marian)")
    p.add_argument("--device", help="hf engine: cpu or cuda (default: cuda if available)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--batch-size", type=int, help="sentences per engine call "
                   "(apertium default 400, hf default 16)")
    p.add_argument("--num-beams", type=int, default=1, help="hf engine: beam size")
    from babelir.cli import _positive_int

    p.add_argument("--limit", type=_positive_int,
                   help="translate only the first N examples, N >= 1 (for trying)")
    p.add_argument("--positive", choices=("paragraph", "sentence", "sentence+paragraph"),
                   default="paragraph", help="the JSONL passage: paragraph, gold sentence, or both")
    p.add_argument("--data-dir", help="data folder (default $BABELIR_DATA)")
    p.add_argument("--cache-dir", help="cache folder (default $BABELIR_CACHE or ~/.cache/babelir)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_translate_command)


def run_translate_command(args: argparse.Namespace) -> int:
    import json

    from babelir.settings import cache_dir, data_dir
    from babelir.translate.engines import make_engine
    from babelir.translate.pipeline import translate_source

    kwargs = {"num_beams": args.num_beams} if args.engine.startswith("hf:") else {}
    engine = make_engine(args.engine, device=args.device, batch_size=args.batch_size, **kwargs)
    cache = cache_dir(args.cache_dir) / "translations.sqlite"
    manifest = translate_source(args.source, args.to, engine, args.out,
                                data_dir=data_dir(args.data_dir), source_lang=args.source_lang,
                                limit=args.limit, cache=cache, positive=args.positive,
                                progress=not args.no_progress)
    summary = {lang: {k: v[k] for k in ("examples", "translated", "cache_hits", "failed_texts",
                                        "sentences_per_second", "flagged_text_share")}
               for lang, v in manifest["languages"].items()}
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out} (build-pairs: --source {manifest['build_pairs_source']})")
    return 0
