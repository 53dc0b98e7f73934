"""MIRACL scoring: nDCG@10 and Recall@100 per language, averaged (mean and median) over
languages as in the paper's Tables 12-13.

A run is ``qid -> (docids, scores)`` (or ``qid -> [(docid, score), ...]``), the retrieved
passages of one query. Relevance is binary: rel 1 is relevant, rel 0 and unjudged passages are
not. Ranks follow ``evaluation.ranks.pessimistic_ranks`` (a relevant passage tied with others
comes after the tied non-relevant ones); a relevant passage absent from the run counts as not
retrieved (a finite rank beyond any cutoff, so it stays in |R_q|). The per-query values are
``evaluation.metrics.ndcg_at_k`` and ``recall_at_k``. Every topic with a positive judgment
is scored; a topic missing from the run scores 0 (``trec_eval -c``, as MIRACL's evaluation).

The end-to-end run (``babelir eval --benchmark miracl:sw,te``) is the ``Benchmark`` of
``evaluation.miracl_benchmark``; the helpers it names its languages and finds each language's
corpus with are at the end of this module.
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
