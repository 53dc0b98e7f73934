"""The paper's published numbers (arXiv 2408.10536), read from ``paper_numbers.yaml``, the
data file shipped beside this module (package data): nothing here is babelir's own result."""

from __future__ import annotations

from importlib import resources

import yaml

PAPER_FILE = "paper_numbers.yaml"


def load_paper_numbers(text: str | None = None) -> dict:
    """The paper's numbers as one dict: ``source`` and ``citation``; ``table1``: (backbone,
    sampling) -> benchmark -> (Mo, Cr, Mul) mAP; ``table2``: (backbone, sampling) ->
    benchmark -> mean rank distance; and the set-up values (``alpha``, ``batch_size``, ...).
    ``text`` is the YAML to read (default: the packaged ``paper_numbers.yaml``)."""
    if text is None:
        text = resources.files("babelir.report").joinpath(PAPER_FILE).read_text(
            encoding="utf-8")
    data = yaml.safe_load(text)
    table1, table2 = {}, {}
    for row in data["results"]:
        key = (row["backbone"], row["sampling"])
        benchmarks = {k: v for k, v in row.items() if k not in ("backbone", "sampling")}
        table1[key] = {b: tuple(v["map"]) for b, v in benchmarks.items()}
        table2[key] = {b: v["rank_distance"] for b, v in benchmarks.items()}
    return {"source": " ".join(data["source"].split()), "citation": data["citation"],
            "table1": table1, "table2": table2, **data["setup"]}
