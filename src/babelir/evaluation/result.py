"""``EvaluationResult``: one evaluation's numbers, as ``babelir.evaluate`` returns them.

It wraps the results dict that ``babelir eval`` writes to ``results.json`` (``results``) and
offers it as a person or a notebook reads it:

- ``summary``: the macro averages and settings (``summary.json``); ``result["multi.map"]``
  reads one number;
- ``table(setting)``: the per-query-language table of ``mono``, ``cross`` or ``multi`` (MIRACL:
  its per-language table), ``pairs(metric)``: the (query language x candidate language)
  matrix;
- ``to_dataframe()``: every number in one tidy pandas frame, columns ``setting``, ``metric``,
  ``value``, ``query_lang``, ``candidate_lang``;
- ``report()``: the tables ``babelir eval`` prints; ``repr``: the headline numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: the numbers ``repr`` shows, where the summary has them (summary key, label)
HEADLINE = (("mono.map", "Mo mAP"), ("cross.map", "Cr mAP"), ("multi.map", "Mul mAP"),
            ("mono.recall@1", "Mo R@1"), ("cross.recall@1", "Cr R@1"),
            ("multi.recall@10", "Mul R@10"), ("multi.rank_distance", "rank distance"),
            ("mean.ndcg@10", "mean nDCG@10"), ("mean.recall@100", "mean R@100"))
SETTINGS = ("mono", "cross", "multi")
COLUMNS = ["setting", "metric", "value", "query_lang", "candidate_lang"]
#: per-language entries that count queries rather than measure them
COUNTS = ("n_queries", "n_in_run")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _measures(metrics: dict) -> Iterator[tuple[str, float]]:
    for name, value in metrics.items():
        if _number(value) and name not in COUNTS:
            yield name, float(value)


def tidy_rows(results: dict) -> Iterator[tuple]:
    """(setting, metric, value, query language, candidate language) of every number.

    Summary rows (``"<setting>.<metric>"`` keys: macro averages over the query languages) have
    no languages; a per-query-language row of ``mono`` has the candidate language of its query,
    of ``cross`` / ``multi`` none (the other languages / the whole pool); ``pair`` rows, one per
    (query, candidate) language pair; MIRACL's per-language rows are ``mono``."""
    for key, value in results["summary"].items():
        if "." in key and _number(value):
            setting, metric = key.split(".", 1)
            yield setting, metric, float(value), None, None
    for setting in SETTINGS:
        for lang, metrics in results.get(setting, {}).items():
            for metric, value in _measures(metrics):
                yield setting, metric, value, lang, lang if setting == "mono" else None
    for query_lang, row in results.get("pairs", {}).items():
        for candidate_lang, metrics in row.items():
            for metric, value in _measures(metrics):
                yield "pair", metric, value, query_lang, candidate_lang
    for lang, metrics in results.get("per_language", {}).items():
        for metric, value in _measures(metrics):
            yield "mono", metric, value, lang, lang


@dataclass(repr=False)
class EvaluationResult:
    """See the module docstring. ``results``: the dict of ``results.json`` (with ``out``, the
    folder written, or None)."""

    results: dict

    @property
    def summary(self) -> dict:
        return self.results["summary"]

    @property
    def out(self) -> Path | None:
        out = self.results.get("out")
        return Path(out) if out else None

    @property
    def languages(self) -> list[str]:
        return list(self.results.get("languages", []))

    def __getitem__(self, key: str):
        """A summary value, e.g. ``result["multi.map"]``."""
        return self.summary[key]

    def table(self, setting: str = "multi"):
        """Per query language (rows) the metrics (columns) of ``setting`` (mono, cross or
        multi; MIRACL: its one per-language table, whatever ``setting``)."""
        import pandas as pd

        if "per_language" in self.results:
            per_language = self.results["per_language"]
        elif setting in SETTINGS:
            per_language = self.results[setting]
        else:
            raise ValueError(f"setting must be one of {', '.join(SETTINGS)}, got {setting!r}")
        frame = pd.DataFrame({lang: dict(_measures(metrics))
                              for lang, metrics in per_language.items()}).T
        frame.index.name = "query_lang"
        return frame

    def pairs(self, metric: str = "map"):
        """``metric`` for every (query language: rows, candidate language: columns) pair."""
        import pandas as pd

        pairs = self.results.get("pairs")
        if not pairs:
            raise ValueError(f"{self.summary.get('benchmark')} results have no language pairs")
        frame = pd.DataFrame({x: {y: m[metric] for y, m in row.items()}
                              for x, row in pairs.items()}).T
        frame.index.name, frame.columns.name = "query_lang", "candidate_lang"
        return frame

    def to_dataframe(self):
        """Every number as a tidy frame (``tidy_rows``): setting, metric, value, query_lang,
        candidate_lang (None where the row is over several languages)."""
        import pandas as pd

        return pd.DataFrame(list(tidy_rows(self.results)), columns=COLUMNS)

    def report(self) -> str:
        """The tables ``babelir eval`` prints."""
        if "per_language" in self.results:
            from babelir.evaluation.miracl import format_table

            return format_table(self.results)
        from babelir.report.tables import full_report

        return full_report(self.results)

    def __repr__(self) -> str:
        s = self.summary
        numbers = ", ".join(f"{label} {s[key]:.{1 if 'distance' in key else 3}f}"
                            for key, label in HEADLINE if _number(s.get(key)))
        size = f"{len(self.languages)} languages"
        if "n_queries" in s:
            size += f", {s['n_queries']} queries"
        return (f"EvaluationResult({s.get('benchmark')}, model={s.get('model')!r}, {size}: "
                f"{numbers})")
