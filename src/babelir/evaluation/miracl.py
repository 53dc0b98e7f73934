"""MIRACL scoring: nDCG@10 and Recall@100 per language, averaged (mean and median) over
languages as in the paper's Tables 12-13.

A run is ``qid -> (docids, scores)`` (or ``qid -> [(docid, score), ...]``), the retrieved
passages of one query. Relevance is binary: rel 1 is relevant, rel 0 and unjudged passages are
not. Ranks follow ``evaluation.ranks.pessimistic_ranks`` (a relevant passage tied with others
comes after the tied non-relevant ones); a relevant passage absent from the run counts as not
retrieved (a finite rank beyond any cutoff, so it stays in |R_q|). The per-query values are
``evaluation.metrics.ndcg_at_k`` and ``recall_at_k``. Every topic with a positive judgment
is scored; a topic missing from the run scores 0 (``trec_eval -c``, as MIRACL's evaluation).
"""

from __future__ import annotations

import numpy as np

from babelir.evaluation.metrics import ndcg_at_k, recall_at_k
from babelir.evaluation.ranks import PAD, pessimistic_ranks

NOT_RETRIEVED = 1e12  # finite: counted in |R_q| by the metrics, beyond every cutoff


def _as_lists(entry) -> tuple[list[str], np.ndarray]:
    if isinstance(entry, tuple) and len(entry) == 2 and not isinstance(entry[0], str):
        docids, scores = entry
        return list(docids), np.asarray(scores, dtype=np.float64)
    pairs = list(entry)
    return [d for d, _ in pairs], np.asarray([s for _, s in pairs], dtype=np.float64)


def relevant_ranks(run: dict, qrels: dict[str, dict[str, int]]) -> tuple[list[str], np.ndarray]:
    """Qids (with ≥ 1 positive) and their (n_q, max |R_q|) ranks matrix (``inf`` padding)."""
    qids = [q for q, judged in qrels.items() if any(r > 0 for r in judged.values())]
    width = max((sum(r > 0 for r in qrels[q].values()) for q in qids), default=1)
    out = np.full((len(qids), width), np.inf)
    for row, qid in enumerate(qids):
        positives = [d for d, r in qrels[qid].items() if r > 0]
        out[row, :len(positives)] = NOT_RETRIEVED
        if qid not in run:
            continue
        docids, scores = _as_lists(run[qid])
        if not docids:
            continue
        position = {d: i for i, d in enumerate(docids)}
        if len(position) != len(docids):
            raise ValueError(f"run of query {qid!r} lists a docid twice")
        found = [(slot, position[d]) for slot, d in enumerate(positives) if d in position]
        if not found:
            continue
        rel = np.full((1, len(found)), PAD, dtype=np.int64)
        rel[0] = [col for _, col in found]
        ranks = pessimistic_ranks(scores[None, :], rel)[0]
        for (slot, _), rank in zip(found, ranks):
            out[row, slot] = rank
    return qids, out


def evaluate_language(run: dict, qrels: dict[str, dict[str, int]], ndcg_k: int = 10,
                      recall_k: int = 100) -> dict:
    """Mean nDCG@k and Recall@k of one language, and the per-query values."""
    qids, ranks = relevant_ranks(run, qrels)
    ndcg = ndcg_at_k(ranks, ndcg_k)
    recall = recall_at_k(ranks, recall_k)
    return {f"ndcg@{ndcg_k}": float(np.mean(ndcg)) if len(qids) else float("nan"),
            f"recall@{recall_k}": float(np.mean(recall)) if len(qids) else float("nan"),
            "n_queries": len(qids), "n_in_run": sum(q in run for q in qids),
            "per_query": {"qid": qids, f"ndcg@{ndcg_k}": ndcg.tolist(),
                          f"recall@{recall_k}": recall.tolist()}}


def evaluate_miracl(runs: dict[str, dict], qrels: dict[str, dict[str, dict[str, int]]],
                    ndcg_k: int = 10, recall_k: int = 100) -> dict:
    """``runs[lang]`` and ``qrels[lang]`` → per language, plus mean and median over languages."""
    per_language = {lang: evaluate_language(runs[lang], qrels[lang], ndcg_k, recall_k)
                    for lang in runs}
    names = (f"ndcg@{ndcg_k}", f"recall@{recall_k}")
    summary = {}
    for name in names:
        values = [per_language[lang][name] for lang in per_language]
        summary[f"mean.{name}"] = float(np.mean(values)) if values else float("nan")
        summary[f"median.{name}"] = float(np.median(values)) if values else float("nan")
    return {"languages": list(per_language), "summary": summary,
            "per_language": per_language}


def run_from_search(qids: list[str], scores: np.ndarray, ids: np.ndarray,
                    docids: list[str]) -> dict[str, tuple[list[str], np.ndarray]]:
    """Turn index search results (row ids, ``-1`` = none) into a run keyed by qid."""
    run = {}
    for qid, s, row in zip(qids, scores, ids):
        keep = row >= 0
        run[qid] = ([docids[i] for i in row[keep]], np.asarray(s[keep], dtype=np.float64))
    return run


def format_table(result: dict) -> str:
    """A markdown table: one row per language, then the mean and the median."""
    names = [k.split(".", 1)[1] for k in result["summary"] if k.startswith("mean.")]
    lines = ["| lang | queries | " + " | ".join(names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for lang in result["languages"]:
        r = result["per_language"][lang]
        lines.append(f"| {lang} | {r['n_queries']} | "
                     + " | ".join(f"{100 * r[n]:.1f}" for n in names) + " |")
    for agg in ("mean", "median"):
        lines.append(f"| **{agg}** | | "
                     + " | ".join(f"{100 * result['summary'][f'{agg}.{n}']:.1f}" for n in names)
                     + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- end-to-end evaluation
def parse_benchmark(value: str) -> list[str]:
    """``miracl`` (the paper's 15 languages) or ``miracl:sw,te`` → language codes."""
    from babelir.data.miracl import LANGUAGES, PAPER_LANGUAGES
    from babelir.errors import BabelirError

    name, _, langs = value.partition(":")
    if name != "miracl":
        raise BabelirError(f"not a MIRACL benchmark: {value!r}")
    chosen = [x.strip() for x in langs.split(",") if x.strip()] or list(PAPER_LANGUAGES)
    unknown = [x for x in chosen if x not in LANGUAGES]
    if unknown:
        raise BabelirError(f"unknown MIRACL languages {unknown}; known: {', '.join(LANGUAGES)}")
    return chosen


def require_corpus_source(template: str | None, online: bool) -> None:
    """MIRACL passages come from ``--corpus`` or, with ``--online``, from the HF dataset."""
    from babelir.errors import DataError

    if not template and not online:
        raise DataError("MIRACL needs --corpus (passages in miracl-corpus JSONL format) or "
                        "--online (download them from the HF dataset miracl/miracl-corpus)",
                        "miracl")


def corpus_for(template: str | None, lang: str, online: bool = False,
               cache_root=None):
    """The corpus of one language: ``--corpus`` with ``{lang}`` replaced, or a folder holding
    ``<lang>.jsonl[.gz]`` / ``miracl-corpus-v1.0-<lang>/``; without ``--corpus`` and with
    ``--online``, the HF dataset ``miracl/miracl-corpus`` (downloaded once to the cache)."""
    from pathlib import Path

    from babelir.errors import DataError

    if template is None:
        require_corpus_source(template, online)
        from babelir.data.miracl import download_corpus

        return download_corpus(lang, Path(cache_root))
    if "{lang}" in template:
        path = Path(template.replace("{lang}", lang))
    else:
        base = Path(template)
        options = [base / f"{lang}.jsonl.gz", base / f"{lang}.jsonl",
                   base / f"miracl-corpus-v1.0-{lang}"]
        path = next((p for p in options if p.exists()), options[0])
    if not path.exists():
        raise DataError(f"no MIRACL corpus for {lang} (passages are not in the data folder; "
                        "get them from the HF dataset miracl/miracl-corpus)", path)
    return path


def run_miracl_eval(args) -> dict:
    """``babelir eval --benchmark miracl:sw,te --corpus CORPUS [--index hnsw]``: encode (or
    BM25-index) each language's corpus, retrieve the top 100 per topic, score and write
    ``summary.json``, ``results.json``, ``tables.md`` and ``run.<lang>.trec`` into ``--out``."""
    import time
    from pathlib import Path

    from babelir.data.miracl import load_language
    from babelir.errors import BabelirError
    from babelir.io import atomic_dir, check_output_folder, write_json
    from babelir.retrieval.corpus_index import encoder_identity
    from babelir.retrieval.index import (Bm25Index, VectorIndex, build_corpus_index,
                                         embedding_key, process_device)
    from babelir.retrieval.sharded import ShardedEmbeddings, process_rank
    from babelir.settings import cache_dir, data_dir

    require_corpus_source(getattr(args, "corpus", None), getattr(args, "online", False))
    data = data_dir(args.data_dir)
    if data is None:
        raise BabelirError("no data folder: set --data-dir or $BABELIR_DATA")
    cache = cache_dir(args.cache_dir)
    languages = parse_benchmark(args.benchmark)
    kind = getattr(args, "index", None) or "exact"
    depth = max(100, getattr(args, "k", 100) or 100)
    out = Path(args.out or f"runs/{Path(args.model).name}-miracl-{kind}")
    check_output_folder(out)  # a folder that is not babelir's is refused before any work
    encoder = None
    if args.model != "bm25":
        from babelir.models.registry import resolve_model
        from babelir.retrieval.dense import DenseEncoder

        encoder = DenseEncoder(resolve_model(args.model, cache, args.query_prefix,
                                             args.passage_prefix),
                               max_length=args.max_length, batch_size=args.batch_size,
                               device=args.device or process_device(),
                               precision=args.precision, backend=args.backend, cache_root=cache)
    runs, qrels, timing = {}, {}, {}
    for lang in languages:
        started = time.perf_counter()
        m = load_language(data, lang)
        corpus = corpus_for(getattr(args, "corpus", None), lang,
                            getattr(args, "online", False), cache)
        qids = list(m.topics)
        texts = [m.topics[q] for q in qids]
        if encoder is None:
            from babelir.data.miracl import iter_corpus, passage_text

            # streamed: one chunk of records tokenised at a time, never the whole corpus
            bm25 = Bm25Index.build_streaming(
                ([(r["docid"], passage_text(r)) for r in chunk] for chunk in iter_corpus(corpus)),
                args.bm25_tokenizer)
            scores, ids = bm25.search(texts, depth)
            docids = bm25.docids
        else:
            key = embedding_key(encoder)
            stat = Path(corpus).stat()
            import hashlib

            tag = hashlib.sha256(f"{Path(corpus).resolve()}:{stat.st_size}:{int(stat.st_mtime)}:"
                                 f"{key}".encode()).hexdigest()[:16]
            folder = Path(getattr(args, "index_dir", None) or cache / "miracl-index") / f"{lang}-{tag}"
            build_corpus_index(corpus, folder, lambda t: encoder.encode(t, "passage"), kind,
                               shard_size=getattr(args, "shard_size", 50_000),
                               dtype=getattr(args, "embeddings_dtype", "float16"),
                               batch_size=max(args.batch_size, 256), key=key,
                               meta={"model": args.model, "max_length": args.max_length},
                               identity=encoder_identity(encoder, args.model))
            if process_rank()[0] != 0:  # under torchrun: this process helped encode; rank 0
                continue                # builds the index, retrieves and scores
            queries = encoder.encode(texts, "query")
            scores, ids = VectorIndex.load(folder / kind, mmap=True).search(queries, depth)
            docids = ShardedEmbeddings(folder / "embeddings").docids
        runs[lang] = run_from_search(qids, scores, ids, docids)
        qrels[lang] = m.qrels
        timing[lang] = round(time.perf_counter() - started, 2)
    if process_rank()[0] != 0:
        return {}
    result = evaluate_miracl(runs, qrels)
    table = format_table(result)
    print(table)
    with atomic_dir(out) as tmp:
        write_json(tmp / "summary.json", {**result["summary"], "model": args.model,
                                          "benchmark": args.benchmark, "index": kind,
                                          "languages": languages})
        write_json(tmp / "results.json", {**result, "timing_s": timing,
                                          "corpus": args.corpus, "index": kind})
        (tmp / "tables.md").write_text(table + "\n", encoding="utf-8")
        for lang, run in runs.items():
            with open(tmp / f"run.{lang}.trec", "w", encoding="utf-8") as fh:
                for qid, (ds, ss) in run.items():
                    fh.writelines(f"{qid} Q0 {d} {rank} {s:.6f} babelir\n" for rank, (d, s) in enumerate(zip(ds, ss), 1))
    print(f"wrote {out}")
    return {**result, "out": str(out)}
