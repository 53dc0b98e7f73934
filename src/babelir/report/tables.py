"""Plain-text (Markdown) tables in the paper's layouts, built from a results dict."""

from __future__ import annotations


def _fmt(value: float, digits: int = 4) -> str:
    return "—" if value != value else f"{value:.{digits}f}"  # nan -> dash


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def table1(summaries: list[dict]) -> str:
    """Paper Table 1 (+ Table 2): macro mAP per setting and the mean rank distance, per run."""
    rows = [[s["model"], s["benchmark"], _fmt(s["mono.map"], 3), _fmt(s["cross.map"], 3),
             _fmt(s["multi.map"], 3), _fmt(s["mono.recall@1"], 3), _fmt(s["cross.recall@1"], 3),
             _fmt(s["multi.recall@10"], 3), _fmt(s["multi.rank_distance"], 1)]
            for s in summaries]
    return markdown_table(["model", "benchmark", "Mo mAP", "Cr mAP", "Mul mAP", "Mo R@1",
                           "Cr R@1", "Mul R@10", "Mul rank distance"], rows)


def per_language_table(results: dict) -> str:
    """Paper Table 3: mAP and recall (R@1 for Mo/Cr, R@10 for Mul) per query language."""
    rows = []
    for lang in results["languages"] + ["mean"]:
        mo, cr, mu = (results[s].get(lang, {}) for s in ("mono", "cross", "multi"))
        if lang == "mean":
            mo, cr, mu = ({k.split(".", 1)[1]: v for k, v in results["summary"].items()
                           if k.startswith(p)} for p in ("mono.", "cross.", "multi."))
        get = lambda d, k: _fmt(d.get(k, float("nan")))  # noqa: E731
        rows.append([lang, get(mo, "map"), get(cr, "map"), get(mu, "map"),
                     get(mo, "recall@1"), get(cr, "recall@1"), get(mu, "recall@10")])
    return markdown_table(["q-lang", "Mo mAP", "Cr mAP", "Mul mAP", "Mo R@1", "Cr R@1",
                           "Mul R@10"], rows)


def language_bias_table(results: dict) -> str:
    """Paper Table 7: mean rank distance per query language, plus the own-language top-10 share."""
    rows = [[lang, _fmt(results["multi"][lang]["rank_distance"], 1),
             _fmt(results["multi"][lang]["own_language@10"], 3)] for lang in results["languages"]]
    s = results["summary"]
    rows.append(["mean", _fmt(s["multi.rank_distance"], 1), _fmt(s["multi.own_language@10"], 3)])
    return markdown_table(["q-lang", "rank distance", "own-language share of top 10"], rows)


def cross_pair_counts(results: dict) -> str:
    """Queries scored per cross-lingual pair, where some are missing (MLQA-R)."""
    langs = results["languages"]
    rows = [[x] + [str(int(results["pairs"][x][y]["n_queries"])) for y in langs] for x in langs]
    return markdown_table(["q \\ c"] + langs, rows)


def full_report(results: dict) -> str:
    parts = [
        "## Table 1: macro mAP (Mo / Cr / Mul) and mean rank distance", table1([results["summary"]]),
        "## Table 3: per query language", per_language_table(results),
        "## Table 7: language bias in the multilingual pool (lower is better)",
        language_bias_table(results),
    ]
    if results["summary"].get("incomplete_pairs"):
        parts += ["## Queries scored per (query, candidate) language pair",
                  cross_pair_counts(results)]
    return "\n\n".join(parts) + "\n"
