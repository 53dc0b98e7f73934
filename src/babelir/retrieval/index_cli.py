"""``babelir index build`` and ``babelir search``: a corpus folder indexed and searched with the
``faiss`` retriever (``retrieval.faiss_retriever``).

``babelir search`` shows each hit's rank, score, language, docid, title and the start of its
text (``retrieval.documents``: stored beside the index at build time), or with ``--json`` one
JSON object per query (``{"query", "hits": [{"rank", "docid", "score", "lang", "title",
"text"}]}``, the whole text); ``--languages`` restricts the hits to those languages (a faiss ID
selector over the language's rows). Queries come from the command line, a file (``--queries
FILE``, one a line) or standard input (``--queries -``).
"""

from __future__ import annotations

import json
import sys
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
    if rank == 0:  # what search shows of each hit (and its language filter)
        from babelir.retrieval.documents import open_documents

        open_documents(out, _index_record(out), _docids(out), quiet=True)
    print(f"wrote {out} ({args.kind})" if rank == 0 else
          f"rank {rank} of {world}: its shards are encoded; rank 0 builds the index")
    return 0


def add_search_parser(sub) -> None:
    """``babelir search``: query a folder written by ``babelir index build``."""
    p = sub.add_parser("search", help="search an index built by `babelir index build`")
    p.add_argument("query", nargs="*", help="query text(s)")
    p.add_argument("--index", required=True, help="folder written by `babelir index build`")
    p.add_argument("--kind", choices=KINDS, help="which index of the folder (default: the "
                                                  "only one, else exact)")
    p.add_argument("--query", action="append", dest="more_queries", metavar="QUERY",
                   help="query text (repeatable; the same as a positional query)")
    p.add_argument("--queries", metavar="FILE",
                   help="file of queries, one a line ('-': standard input)")
    p.add_argument("--languages", type=lambda v: [x.strip() for x in v.split(",") if x.strip()],
                   help="comma-separated answer languages, e.g. de,fr (default: all)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object a query: {query, hits: [{rank, docid, score, lang, "
                        "title, text}]}")
    p.add_argument("-k", type=int, default=10, help="passages listed per query")
    p.add_argument("--model", help="query encoder (default: the model the index was built with)")
    p.add_argument("--max-length", type=int, default=None,
                   help="max tokens per query (default: the index's, else 256)")
    from babelir.retrieval.dense import add_encoding_options

    add_encoding_options(p)
    _add_machine_options(p)
    p.set_defaults(handler=run_search_command)


def _index_record(folder: Path) -> dict:
    path = folder / "corpus-index.json"
    if not path.is_file():
        raise BabelirError(f"{folder} is not an index folder (no corpus-index.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def _docids(folder: Path) -> list[str]:
    from babelir.retrieval.sharded import ShardedEmbeddings

    return ShardedEmbeddings(folder / "embeddings").docids


def read_queries(args) -> list[str]:
    """The positional and ``--query`` queries, then those of ``--queries`` (a file or '-')."""
    queries = [*args.query, *(args.more_queries or [])]
    if args.queries is not None:
        source = "standard input" if args.queries == "-" else args.queries
        try:
            text = sys.stdin.read() if args.queries == "-" else \
                Path(args.queries).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BabelirError(f"cannot read the queries of {source}: {exc}") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise BabelirError(f"no queries in {source} (one query a line)")
        queries += lines
    if not queries:
        raise BabelirError("no query: give one (babelir search --index DIR 'text'), or "
                           "--queries FILE (one a line; '-': standard input)")
    return queries


def _retriever_for(folder: Path, meta: dict, args):
    """The faiss retriever of the index's model (or ``--model``), and the index kind."""
    from babelir.retrieval.corpus_index import check_query_encoder

    kinds = [k for k in KINDS if (folder / k / "index.json").is_file()]
    kind = args.kind or (kinds[0] if len(kinds) == 1 else DEFAULT_KIND)
    if kind not in kinds:
        raise BabelirError(f"{folder} has no {kind} index (has: {', '.join(kinds) or 'none'})")
    args.model = args.model or meta.get("model") or "multilingual-e5-small"
    args.max_length = args.max_length or meta.get("max_length", 256)
    retriever = _retriever(args, index=kind)
    check_query_encoder(folder, meta, retriever.encoder, args.model)
    return retriever, kind


def search_hits(args) -> list[dict]:
    """``{"query", "hits": [...]}`` of every query (see the module docstring)."""
    from babelir.retrieval.documents import open_documents

    if args.k < 1:
        raise BabelirError(f"-k must be at least 1, got {args.k}")
    queries = read_queries(args)
    folder = Path(args.index)
    meta = _index_record(folder)
    retriever, kind = _retriever_for(folder, meta, args)
    docids = _docids(folder)
    store = open_documents(folder, meta, docids)
    if args.languages and store is None:
        raise BabelirError(f"--languages needs the documents' languages, and {folder} has none")
    allowed = store.rows_in(args.languages) if args.languages else None
    vectors = retriever.encode(TextSet(queries, kind="query"))
    # searched in place (memory-mapped), not read in
    scores, ids = VectorIndex.load(folder / kind, mmap=True).search(vectors, args.k, allowed)
    documents = store.get(ids[ids >= 0]) if store is not None else {}
    empty = {"lang": None, "title": None, "text": None}
    return [{"query": query, "hits": [
        {"rank": rank, "docid": docids[i], "score": float(s),
         **{k: v for k, v in documents.get(int(i), empty).items() if k != "docid"}}
        for rank, (s, i) in enumerate(((s, i) for s, i in zip(s_row, i_row) if i >= 0), 1)]}
        for query, s_row, i_row in zip(queries, scores, ids)]


def snippet(text: str | None, width: int = 120) -> str:
    """The start of ``text`` on one line, at most ``width`` characters."""
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[:width - 1].rstrip() + "…"


def format_hits(result: dict) -> str:
    """A query and its hits as a person reads them."""
    lines = [f"query: {result['query']}"]
    if not result["hits"]:
        lines.append("  (no hits)")
    for hit in result["hits"]:
        title = f"{hit['title']} — " if hit["title"] else ""
        lines.append(f"{hit['rank']:>4}  {hit['score']:.4f}  {hit['lang'] or '?':<3} "
                     f"{hit['docid']}  {snippet(title + (hit['text'] or ''))}")
    return "\n".join(lines)


def run_search_command(args) -> int:
    results = search_hits(args)
    for number, result in enumerate(results):
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(("\n" if number else "") + format_hits(result))
    return 0
