"""``babelir index build`` and ``babelir search``: a corpus folder indexed and searched with the
``faiss`` retriever (``retrieval.faiss_retriever``)."""

from __future__ import annotations

import json
from pathlib import Path

from babelir.errors import BabelirError
from babelir.retrieval.base import TextSet
from babelir.retrieval.index import DEFAULT_KIND, KINDS, VectorIndex


def _params(values: list[str] | None) -> dict:
    params = {}
    for item in values or []:
        name, _, value = item.partition("=")
        if not value:
            raise BabelirError(f"--param wants NAME=VALUE, got {item!r}")
        params[name] = float(value) if "." in value else int(value)
    return params


def _retriever(args, **settings):
    from babelir.retrieval.faiss_retriever import FaissRetriever

    return FaissRetriever.create(args.model, {**vars(args), **settings})


def _add_machine_options(p) -> None:
    """--device and --cache-dir, as every babelir command has them."""
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    p.add_argument("--cache-dir", help="cache folder, where the bundled model is materialised "
                                       "(default: $BABELIR_CACHE or ~/.cache/babelir)")


def add_index_parser(sub) -> None:
    """``babelir index build``: encode a corpus (sharded, resumable) and build a faiss index."""
    index = sub.add_parser("index", help="build on-disk indexes of large corpora").add_subparsers(
        dest="index_command", required=True)
    p = index.add_parser("build", help="encode a MIRACL-format corpus (JSONL[.gz] {docid, title, "
                                       "text}) into sharded embeddings and a faiss index")
    p.add_argument("--corpus", required=True, help="JSONL or JSONL.gz file, or a folder of them")
    p.add_argument("--out", required=True, help="index folder (re-run the command to resume)")
    p.add_argument("--model", default="multilingual-e5-small",
                   help="dense model: 'multilingual-e5-small' (bundled), a HF id or a local "
                        "folder")
    p.add_argument("--kind", choices=KINDS, default=DEFAULT_KIND,
                   help="faiss index: exact (brute force), hnsw (graph) or ivfpq (compressed)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="index parameter, e.g. M=32, ef_search=128, nlist=4096, m=48, nprobe=32")
    p.add_argument("--shard-size", type=int, default=50_000, help="embeddings per shard file")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float16",
                   help="stored embeddings")
    p.add_argument("--max-length", type=int, default=256, help="max tokens per passage")
    from babelir.retrieval.dense import add_encoding_options

    add_encoding_options(p)
    _add_machine_options(p)
    p.add_argument("--overwrite", action="store_true",
                   help="rebuild a folder made with another model, corpus or settings "
                        "(default: refuse it, naming what differs)")
    p.set_defaults(handler=run_index_build_command)


def run_index_build_command(args) -> int:
    from babelir.retrieval.sharded import process_rank

    retriever = _retriever(args, index=args.kind, embeddings_dtype=args.dtype)
    out = retriever.build_corpus(args.corpus, args.out, _params(args.param), args.overwrite)
    rank, world = process_rank()
    print(f"wrote {out} ({args.kind})" if rank == 0 else
          f"rank {rank} of {world}: its shards are encoded; rank 0 builds the index")
    return 0


def add_search_parser(sub) -> None:
    """``babelir search``: query a folder written by ``babelir index build``."""
    p = sub.add_parser("search", help="search an index built by `babelir index build`")
    p.add_argument("--index", required=True, help="folder written by `babelir index build`")
    p.add_argument("--kind", choices=KINDS, help="which index of the folder (default: the "
                                                  "only one, else exact)")
    p.add_argument("--query", action="append", required=True, help="query text (repeatable)")
    p.add_argument("-k", type=int, default=10, help="passages listed per query")
    p.add_argument("--model", help="query encoder (default: the model the index was built with)")
    p.add_argument("--max-length", type=int, default=None,
                   help="max tokens per query (default: the index's, else 256)")
    from babelir.retrieval.dense import add_encoding_options

    add_encoding_options(p)
    _add_machine_options(p)
    p.set_defaults(handler=run_search_command)


def run_search_command(args) -> int:
    from babelir.retrieval.corpus_index import check_query_encoder
    from babelir.retrieval.faiss_retriever import FaissIndex

    folder = Path(args.index)
    meta_path = folder / "corpus-index.json"
    if not meta_path.is_file():
        raise BabelirError(f"{folder} is not an index folder (no corpus-index.json)")
    meta = json.loads(meta_path.read_text())
    kinds = [k for k in KINDS if (folder / k / "index.json").is_file()]
    kind = args.kind or (kinds[0] if len(kinds) == 1 else DEFAULT_KIND)
    if kind not in kinds:
        raise BabelirError(f"{folder} has no {kind} index (has: {', '.join(kinds) or 'none'})")
    args.model = args.model or meta.get("model") or "multilingual-e5-small"
    args.max_length = args.max_length or meta.get("max_length", 256)
    retriever = _retriever(args, index=kind)
    check_query_encoder(folder, meta, retriever.encoder, args.model)
    # searched in place (memory-mapped), not read in
    index = FaissIndex(retriever, lambda: VectorIndex.load(folder / kind, mmap=True),
                       folder / "embeddings")
    scores, ids = index.search(TextSet(args.query, kind="query"), args.k)
    docids = index.docids
    for text, s_row, i_row in zip(args.query, scores, ids):
        print(f"# {text}")
        for rank, (s, i) in enumerate(zip(s_row, i_row), 1):
            if i >= 0:
                print(f"{rank}\t{docids[i]}\t{s:.4f}")
    return 0
