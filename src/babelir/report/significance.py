"""Paired significance over queries: a sign-flip (paired randomization) test, a bootstrap
confidence interval of the mean difference, Holm's adjustment, and the per-query values
whose plain mean is a macro-averaged table number.

The unit of the test is the query. Two systems A and B were scored on the same queries;
``d_q = v_A(q) - v_B(q)``. Under the null hypothesis that A and B are exchangeable on every
query, each ``d_q`` is as likely to be ``+d_q`` as ``-d_q``; the test statistic is the mean
difference, and its null distribution is that of ``mean(s_q * d_q)`` over random signs
``s_q = ±1``. Two-sided p-value: the share of sign vectors with ``|mean(s d)| >= |mean(d)|``.

* Exact when ``2 ** n_nonzero <= permutations`` (queries with ``d_q = 0`` change nothing and
  are dropped first): all sign vectors are enumerated and p is the exact share.
* Otherwise Monte Carlo with a fixed seed: ``permutations`` random sign vectors,
  ``p = (1 + hits) / (1 + permutations)`` (the observed assignment counts as one of the
  permutations, so p is never 0; Phipson & Smyth 2010).

The effect size is the mean difference itself, with a percentile bootstrap 95% CI (queries
resampled with replacement, fixed seed), plus Cohen's d_z = mean(d) / sd(d).

Macro averages: the paper's numbers are means over query languages of means over queries
(for Cr. also over candidate languages). ``macro_query_values`` returns one value per query
whose *plain* mean equals that macro average exactly (each query weighted by the inverse of
its language's count), so the difference the test examines is the difference printed in the
tables. On XQuAD-R (1,190 queries in every language) the weights are all 1.

Everything is numpy and vectorised; nothing here depends on how the values were produced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: the settings tested, as keys of a run's summary.json
SETTINGS = ("mono.map", "cross.map", "multi.map", "multi.rank_distance")
_CHUNK_ELEMENTS = 1 << 22  # random matrices are drawn in chunks of ~4M entries (32 MB)


def _differences(diff: Sequence[float] | np.ndarray) -> np.ndarray:
    d = np.asarray(diff, dtype=np.float64).ravel()
    if d.size == 0:
        raise ValueError("no paired values")
    if not np.all(np.isfinite(d)):
        raise ValueError("paired differences must be finite (drop or fill NaN first)")
    return d


def sign_flip_test(diff: Sequence[float] | np.ndarray, permutations: int = 10_000,
                   seed: int = 0) -> dict:
    """Two-sided paired randomization test of ``mean(diff) == 0`` (see the module doc).

    Returns ``{"p_value", "observed", "n", "n_nonzero", "exact", "permutations"}``;
    ``permutations`` is the number of sign vectors the p-value is based on.
    """
    d = _differences(diff)
    n = d.size
    observed = float(d.mean())
    nz = d[d != 0.0]
    m = nz.size
    if m == 0:
        return {"p_value": 1.0, "observed": observed, "n": n, "n_nonzero": 0, "exact": True,
                "permutations": 1}
    total = nz.sum()
    target = abs(total)
    tol = 1e-9 * np.abs(nz).sum()  # float rounding must not decide a tie
    if m < 63 and 2 ** m <= permutations:
        # every sign vector, as the bits of 0 .. 2^m - 1 (1 = keep, 0 = flip)
        codes = np.arange(2 ** m, dtype=np.int64)
        hits = 0
        step = max(1, _CHUNK_ELEMENTS // m)
        for start in range(0, codes.size, step):
            bits = ((codes[start:start + step, None] >> np.arange(m)) & 1).astype(np.float64)
            sums = 2.0 * (bits @ nz) - total
            hits += int(np.count_nonzero(np.abs(sums) >= target - tol))
        return {"p_value": hits / 2 ** m, "observed": observed, "n": n, "n_nonzero": m,
                "exact": True, "permutations": 2 ** m}
    rng = np.random.default_rng(seed)
    hits = 0
    step = max(1, _CHUNK_ELEMENTS // m)
    for start in range(0, permutations, step):
        rows = min(step, permutations - start)
        bits = rng.integers(0, 2, size=(rows, m), dtype=np.int8).astype(np.float64)
        sums = 2.0 * (bits @ nz) - total
        hits += int(np.count_nonzero(np.abs(sums) >= target - tol))
    return {"p_value": (1 + hits) / (1 + permutations), "observed": observed, "n": n,
            "n_nonzero": m, "exact": False, "permutations": permutations}


def bootstrap_ci(diff: Sequence[float] | np.ndarray, resamples: int = 10_000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of ``mean(diff)``: queries resampled with replacement."""
    d = _differences(diff)
    n = d.size
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, resamples, step):
        rows = min(step, resamples - start)
        means[start:start + rows] = d[rng.integers(0, n, size=(rows, n))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def paired_comparison(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                      permutations: int = 10_000, bootstrap: int = 10_000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """A versus B on the same queries: means, mean difference A - B with its bootstrap CI,
    Cohen's d_z, and the sign-flip test's p-value."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {a.size} vs {b.size}")
    d = a - b
    test = sign_flip_test(d, permutations, seed)
    low, high = bootstrap_ci(d, bootstrap, seed, level)
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    return {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "difference": float(d.mean()),
            "ci_low": low, "ci_high": high, "ci_level": level,
            "cohen_dz": float(d.mean() / sd) if sd > 0 else 0.0, **test}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (same order as given)."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


# ------------------------------------------------------------------ per-query macro values


def query_languages(query_ids: Sequence[str]) -> np.ndarray:
    """The language of each query id (``<lang>/<id>``, as babelir writes them)."""
    return np.array([str(q).split("/", 1)[0] for q in query_ids])


def _language_weights(langs: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per query: N / (L * n_lang) for valid queries (0 elsewhere), L = languages with any
    valid query; ``mean(weights * values)`` is then the mean over languages of the mean
    over each language's valid queries."""
    weights = np.zeros(langs.size)
    present = [lang for lang in dict.fromkeys(langs.tolist()) if valid[langs == lang].any()]
    for lang in present:
        rows = (langs == lang) & valid
        weights[rows] = langs.size / (len(present) * rows.sum())
    return weights


def macro_query_values(per_query: Mapping[str, np.ndarray], setting: str) -> np.ndarray:
    """One value per query (all queries, in ``query_ids`` order) whose plain mean is the
    macro-averaged ``setting`` of summary.json ("mono.map", "cross.map", "multi.map",
    "multi.rank_distance", or any "multi.<metric>").

    ``per_query`` holds a run's per_query.npz arrays: ``query_ids``, ``multi.<metric>`` over
    all queries and ``pair.<x>.<y>.map`` over the queries of language x against the
    candidates of y. Queries a setting cannot score (NaN) get 0 and weigh nothing.
    """
    langs = query_languages(per_query["query_ids"])
    n = langs.size
    order = list(dict.fromkeys(langs.tolist()))
    if setting.startswith("multi."):
        values = np.asarray(per_query[setting], dtype=np.float64)
        valid = ~np.isnan(values)
        return np.where(valid, values, 0.0) * _language_weights(langs, valid)
    if setting == "mono.map":
        values = np.full(n, np.nan)
        for x in order:
            values[langs == x] = per_query[f"pair.{x}.{x}.map"]
        valid = ~np.isnan(values)
        return np.where(valid, values, 0.0) * _language_weights(langs, valid)
    if setting == "cross.map":
        # macro: mean over x of the mean over its scored pairs (x, y != x) of the pair's mean
        contribution = np.zeros(n)
        cells = {}
        for x in order:
            rows = np.flatnonzero(langs == x)
            pairs = []
            for y in order:
                if y == x:
                    continue
                ap = np.asarray(per_query[f"pair.{x}.{y}.map"], dtype=np.float64)
                if (~np.isnan(ap)).any():
                    pairs.append(ap)
            if pairs:
                cells[x] = (rows, pairs)
        for x, (rows, pairs) in cells.items():
            for ap in pairs:
                valid = ~np.isnan(ap)
                contribution[rows[valid]] += ap[valid] / (len(cells) * len(pairs) * valid.sum())
        return contribution * n
    raise ValueError(f"unknown setting {setting!r}")
