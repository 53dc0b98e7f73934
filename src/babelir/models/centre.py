"""``babelir centre MODEL --out DIR``: a copy of a model that removes each language's offset.

The per-language means (``babelir.retrieval.centring``) are estimated from parallel sentences
of the TRAINING side: the premises of XNLI (dev + test, line-aligned in 15 languages) that
``babelir data build-pairs`` puts in its ``train`` split, so the ``xnli-val`` validation pool
(the premises of its ``dev`` split) stays unseen, and nothing of XQuAD-R, MLQA-R or MIRACL is
used. ``--sentences`` premise groups are drawn (seeded), each in every language; each is
encoded as a query and as a passage with the model's own prefixes.

The output is the model folder copied as it is (file times kept, so the copy shares the
model's embedding cache) plus ``babelir_centring.npz`` / ``babelir_centring.json``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from babelir.errors import BabelirError
from babelir.retrieval.centring import CENTRING_FILE, CENTRING_META, SIDES, estimate_centring

DEFAULT_SENTENCES = 256


def xnli_parallel_sentences(data_dir: Path, n: int, seed: int = 0,
                            languages: list[str] | None = None) -> dict[str, list[str]]:
    """``n`` XNLI premise groups of the build-pairs train split, as language -> sentences
    (row i of every language is the same premise)."""
    from babelir.data.pairs import make_pairs

    frame, _ = make_pairs(["xnli"], Path(data_dir))
    train = frame[(frame["split"] == "train") & frame["question"].notna()]
    table = train.pivot_table(index="example_id", columns="lang", values="question",
                              aggfunc="first")
    if languages:
        missing = [lang for lang in languages if lang not in table.columns]
        if missing:
            raise BabelirError(f"XNLI has no {', '.join(missing)}; its languages are "
                               f"{', '.join(sorted(table.columns))}")
        table = table[languages]
    table = table.dropna().sort_index()
    if len(table) < n:
        raise BabelirError(f"--sentences {n}: only {len(table)} XNLI train premise groups")
    rows = np.random.default_rng(seed).choice(len(table), size=n, replace=False)
    table = table.iloc[np.sort(rows)]
    return {lang: table[lang].tolist() for lang in table.columns}


def centre_model(model: str, out: str | Path, data_dir: Path, cache_root: Path,
                 sentences: int = DEFAULT_SENTENCES, sides: tuple[str, ...] = SIDES,
                 seed: int = 0, languages: list[str] | None = None, **encoder_options) -> dict:
    """Write a centred copy of ``model`` to ``out``; returns the centring's metadata."""
    from babelir import __version__
    from babelir.io import MARKER, atomic_dir, check_output_folder
    from babelir.models.merge import _local_folder
    from babelir.models.registry import resolve_model
    from babelir.retrieval.dense import DenseEncoder, EmbeddingCache

    if sentences < 1:
        raise BabelirError(f"--sentences must be at least 1, got {sentences}")
    out = Path(out)
    check_output_folder(out)
    location, folder = _local_folder(model, cache_root)
    if out.resolve() == folder.resolve():
        raise BabelirError(f"--out {out} is the model folder itself; choose another --out")
    texts = xnli_parallel_sentences(data_dir, sentences, seed, languages)
    choice = resolve_model(model, cache_root)
    encoder = DenseEncoder(choice, cache=EmbeddingCache(cache_root / "embeddings"),
                           cache_root=cache_root, **encoder_options)
    encoder.centring = None  # the means are of the raw embeddings, even for a centred model
    meta = {"model": model, "location": location, "source": "xnli (build-pairs train split)",
            "seed": seed, "formula": "e' = (e - mean[side, lang]) / ||e - mean[side, lang]||",
            "babelir_version": __version__}
    centring = estimate_centring(lambda t, side: encoder.encode(t, side), texts, sides, meta)
    with atomic_dir(out) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True, symlinks=False,
                        ignore=shutil.ignore_patterns(CENTRING_FILE, CENTRING_META, MARKER))
        centring.save(tmp)
    return centring.meta


def add_centre_parser(sub) -> None:
    p = sub.add_parser("centre", help="copy a model with per-language mean centring "
                                      "(removes each language's offset in embedding space)")
    p.add_argument("model", help="bundled name, local model folder or cached Hub id")
    p.add_argument("--out", required=True, help="output folder: the model plus its means")
    p.add_argument("--sentences", type=int, default=DEFAULT_SENTENCES,
                   help="XNLI premise groups (train split) per language (default %(default)s)")
    p.add_argument("--sides", choices=("both", *SIDES), default="both",
                   help="centre queries, passages or both (default %(default)s)")
    p.add_argument("--languages", nargs="+", default=None,
                   help="XNLI languages to estimate (default: all 15)")
    p.add_argument("--seed", type=int, default=0, help="which premises (default %(default)s)")
    p.add_argument("--data-dir", default=None, help="data folder (default: BABELIR_DATA)")
    p.add_argument("--cache-dir", default=None, help="babelir cache (default: ~/.cache/babelir)")
    p.set_defaults(handler=run_centre_command)


def run_centre_command(args: argparse.Namespace) -> int:
    from babelir.settings import DATA_ENV, cache_dir, data_dir

    folder = data_dir(args.data_dir)
    if folder is None:
        raise BabelirError(f"no data folder (XNLI): pass --data-dir or set ${DATA_ENV}")
    sides = SIDES if args.sides == "both" else (args.sides,)
    meta = centre_model(args.model, args.out, folder, cache_dir(args.cache_dir),
                        args.sentences, sides, args.seed, args.languages)
    counts = meta["sentences_per_language"]
    print(f"wrote {args.out}: means of {len(counts)} languages x {max(counts.values())} "
          f"sentences, sides {', '.join(sides)}")
    return 0
