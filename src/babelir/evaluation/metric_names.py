"""The names of babelir's LAReQA metrics as evaluator metrics (``<setting>_<metric>``), apart
from the sentence-transformers evaluator that reports them (``evaluation.st_evaluator``), so
that checking a metric name (``babelir train --select-on``) imports no model library."""

from __future__ import annotations

import numpy as np

from babelir.evaluation.metrics import rank_metrics

SETTINGS = ("mono", "cross", "multi")
#: metrics of the multilingual pool only (``evaluation.lareqa.evaluate``)
MULTI_ONLY = ("rank_distance", "own_language@10")
#: metrics where lower is better (the trainer needs ``greater_is_better=False`` for these)
LOWER_IS_BETTER = ("rank_distance",)
DEFAULT_PRIMARY = "multi_map"


def lareqa_metrics(macro: dict) -> dict[str, float]:
    """Evaluator metrics from babelir's macro averages: ``LareqaResults.macro()``, or the
    ``summary`` of a ``babelir eval`` results.json (its other keys are left out).
    ``"<setting>.<metric>"`` becomes ``"<setting>_<metric>"``."""
    return {key.replace(".", "_", 1): float(value) for key, value in macro.items()
            if key.split(".", 1)[0] in SETTINGS}


def metric_names(ap_k: int = 20) -> list[str]:
    """Every metric the evaluator reports (without its name prefix)."""
    per_query = list(rank_metrics(np.full((0, 1), np.inf), ap_k))
    return [f"{setting}_{name}" for setting in SETTINGS for name in per_query] + \
        [f"multi_{name}" for name in MULTI_ONLY]
