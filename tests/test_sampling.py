"""Language-aware batch sampling: invariants checked on thousands of batches of a synthetic
pool shaped like the real training data, exact rules on hand-made pools, and every error."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from babelir.errors import BabelirError
from babelir.sampling import (
    STRATEGIES,
    Batch,
    EnEnSampler,
    ExamplePool,
    HybridSampler,
    XXMonoSampler,
    XXSampler,
    XYSampler,
    make_sampler,
    shard,
    summarise,
)

BS = 32
LANGS = ("ar", "de", "en", "es", "hi", "vi", "zh", "fi", "ja", "te")
MLQA_Q = ("ar", "de", "en", "es", "hi", "vi")
MLQA_P_RATE = {"ar": 0.3, "de": 0.5, "en": 0.9, "es": 0.4}  # unequal on purpose
TYDI_SIZES = {"fi": 500, "ja": 300, "te": 20}  # te: too small for a batch of BS
N_MLQA, N_ZH, N_DEAD = 2000, 20, 30


def _col(lang: str) -> int:
    return LANGS.index(lang)


def _build_pool() -> ExamplePool:
    rng = np.random.default_rng(1234)
    ids, datasets, rows_q, rows_p = [], [], [], []
    hq = np.zeros((N_MLQA, len(LANGS)), dtype=bool)
    hp = np.zeros_like(hq)
    for lang in MLQA_Q:
        hq[:, _col(lang)] = rng.random(N_MLQA) < 0.7
    for lang, rate in MLQA_P_RATE.items():
        hp[:, _col(lang)] = rng.random(N_MLQA) < rate
    # a few MLQA examples with zh on both sides: a language group below the batch size
    hq[:N_ZH, _col("zh")] = hp[:N_ZH, _col("zh")] = True
    hq[-N_DEAD:] = hp[-N_DEAD:] = False  # examples with nothing usable: never drawn
    ids += [f"mlqa-{i}" for i in range(N_MLQA)]
    datasets += ["mlqa"] * N_MLQA
    rows_q.append(hq)
    rows_p.append(hp)
    for lang, size in TYDI_SIZES.items():
        block = np.zeros((size, len(LANGS)), dtype=bool)
        block[:, _col(lang)] = True
        rows_q.append(block)
        rows_p.append(block.copy())
        ids += [f"tydi-{lang}-{i}" for i in range(size)]
        datasets += ["tydi"] * size
    return ExamplePool.from_arrays(ids, datasets, LANGS, np.vstack(rows_q), np.vstack(rows_p))


POOL = _build_pool()
HQ, HP = POOL.has_question, POOL.has_passage
BOTH = HQ & HP
DS = np.array(POOL.datasets)


def _draw(sampler, n: int, start: int = 0) -> list[Batch]:
    return [sampler.batch(s) for s in range(start, start + n)]


def _four_sigma(successes: int, n: int, p: float) -> bool:
    return abs(successes / n - p) <= 4 * math.sqrt(p * (1 - p) / n)


def _chi_square(counts: list[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


# ---------------------------------------------------------------------------- invariants


def _check_common(batch: Batch) -> None:
    """Every batch: the batch size, distinct examples (ids), all from the batch's dataset,
    and every (query, passage) actually available for its example."""
    e, q, p = batch.example_idx, batch.query_lang, batch.passage_lang
    assert len(batch) == BS
    assert len({POOL.example_ids[i] for i in e}) == BS
    assert (DS[e] == batch.dataset).all()
    assert HQ[e, q].all() and HP[e, p].all()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_batch_has_distinct_available_examples_of_one_dataset(strategy):
    sampler = make_sampler(strategy, POOL, BS, seed=7)
    seen = set()
    for batch in _draw(sampler, 1000):
        _check_common(batch)
        seen.update(batch.example_idx.tolist())
    assert not seen & set(range(N_MLQA - N_DEAD, N_MLQA))  # unusable examples never drawn


@pytest.mark.slow
def test_mono_batches_are_language_pure_and_uniform_over_eligible_languages():
    batches = _draw(XXMonoSampler(POOL, BS, seed=3), 3000)
    per_dataset: dict[str, dict[str, int]] = {"mlqa": {}, "tydi": {}}
    for b in batches:
        _check_common(b)
        assert b.kind == "mono" and b.lang is not None
        assert (b.query_lang == _col(b.lang)).all() and (b.passage_lang == _col(b.lang)).all()
        per_dataset[b.dataset][b.lang] = per_dataset[b.dataset].get(b.lang, 0) + 1
    # zh (20 examples) and te (20) are below the batch size: never a mono batch
    assert set(per_dataset["mlqa"]) == set(MLQA_P_RATE)
    assert set(per_dataset["tydi"]) == {"fi", "ja"}
    # uniform over languages, NOT proportional to group size (en's group is 3x ar's);
    # 99.99 % chi-square quantiles: df=3 -> 21.1, df=1 -> 15.1
    assert _chi_square(list(per_dataset["mlqa"].values())) < 21.1
    assert _chi_square(list(per_dataset["tydi"].values())) < 15.1


def test_en_en_is_english_only():
    for b in _draw(EnEnSampler(POOL, BS, seed=3), 500):
        _check_common(b)
        assert b.kind == "mono" and b.lang == "en" and b.dataset == "mlqa"
        assert (b.query_lang == _col("en")).all() and (b.passage_lang == _col("en")).all()


@pytest.mark.slow
def test_xy_pairs_are_cross_lingual_and_available():
    langs_seen = set()
    for b in _draw(XYSampler(POOL, BS, seed=5), 2000):
        _check_common(b)
        assert b.kind == "cross" and b.lang is None
        assert b.dataset == "mlqa"  # TyDi is monolingual: no X-Y pair exists there
        assert (b.query_lang != b.passage_lang).all()
        langs_seen.update(zip(b.query_lang.tolist(), b.passage_lang.tolist()))
    # every available cross pair shows up (e.g. hi/vi questions against the 4 passage langs)
    expected = {(_col(q), _col(p)) for q in MLQA_Q + ("zh",) for p in tuple(MLQA_P_RATE) + ("zh",)
                if q != p and (HQ[:, _col(q)] & HP[:, _col(p)]).any()}
    assert langs_seen == expected


def test_xx_pairs_are_same_language_and_mixed_across_the_batch():
    n_mixed = 0
    for b in _draw(XXSampler(POOL, BS, seed=5), 1000):
        _check_common(b)
        assert b.kind == "mixed" and b.lang is None
        assert (b.query_lang == b.passage_lang).all()
        n_mixed += len(set(b.query_lang.tolist())) > 1
    assert n_mixed > 900


def _tiny_pool(groups: dict[str, tuple[tuple[str, ...], tuple[str, ...], int]]) -> ExamplePool:
    langs = ("de", "en", "es")
    ids, hq, hp = [], [], []
    for name, (q_langs, p_langs, count) in groups.items():
        for i in range(count):
            ids.append(f"{name}-{i}")
            hq.append([lang in q_langs for lang in langs])
            hp.append([lang in p_langs for lang in langs])
    return ExamplePool.from_arrays(ids, ["d"] * len(ids), langs, np.array(hq), np.array(hp))


@pytest.mark.slow
def test_xy_language_rule_exactly():
    # A: q {de,en,es}, p {de,en}: q uniform over all three (each leaves another passage);
    #    q=en -> p=de, q=de -> p=en, q=es -> p uniform over {de,en}
    # B: q {de,en}, p {en}: q=en leaves no other passage -> always (de, en)
    # C: q {en}, p {en}: no cross pair at all -> never drawn
    pool = _tiny_pool({"A": (("de", "en", "es"), ("de", "en"), 40),
                       "B": (("de", "en"), ("en",), 40), "C": (("en",), ("en",), 40)})
    counts: dict[tuple[str, str], int] = {}
    for b in _draw(XYSampler(pool, 16, seed=0), 2000):
        for e, q, p in b.pairs():
            group = pool.example_ids[e][0]
            assert group != "C"
            if group == "B":
                assert (q, p) == ("de", "en")
            else:
                counts[q, p] = counts.get((q, p), 0) + 1
    n = sum(counts.values())
    expected = {("en", "de"): 1 / 3, ("de", "en"): 1 / 3, ("es", "en"): 1 / 6, ("es", "de"): 1 / 6}
    assert set(counts) == set(expected)
    for pair, prob in expected.items():
        assert _four_sigma(counts[pair], n, prob), (pair, counts[pair] / n, prob)


def test_xx_language_rule_exactly():
    # q {de,en,es}, p {en,es}: the pair language is uniform over {en, es}, never de
    pool = _tiny_pool({"A": (("de", "en", "es"), ("en", "es"), 40)})
    langs = np.concatenate([b.query_lang for b in _draw(XXSampler(pool, 16, seed=0), 500)])
    assert set(langs.tolist()) == {1, 2}
    assert _four_sigma(int((langs == 1).sum()), len(langs), 0.5)


# ----------------------------------------------------------------------------- hybrid


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [0.25, 0.5])
def test_hybrid_realised_alpha_and_parts(alpha):
    hybrid = HybridSampler(POOL, BS, seed=11, alpha=alpha)
    mono, cross = XXMonoSampler(POOL, BS, seed=11), XYSampler(POOL, BS, seed=11)
    n, n_mono = 4000, 0
    for step in range(n):
        b = hybrid.batch(step)
        assert b.kind in ("mono", "cross")
        n_mono += b.kind == "mono"
        # each hybrid batch is exactly the pure strategy's batch of that step
        assert b == (mono if b.kind == "mono" else cross).batch(step)
    assert _four_sigma(n_mono, n, alpha), n_mono / n


@pytest.mark.slow
@pytest.mark.parametrize("alpha, pure, kind", [(1.0, XXMonoSampler, "mono"),
                                               (0.0, XYSampler, "cross")])
def test_hybrid_extreme_alpha_is_the_pure_strategy(alpha, pure, kind):
    hybrid, reference = HybridSampler(POOL, BS, seed=2, alpha=alpha), pure(POOL, BS, seed=2)
    for step in range(500):
        b = hybrid.batch(step)
        assert b.kind == kind and b == reference.batch(step)


def test_hybrid_needs_only_the_parts_alpha_uses():
    too_big_for_mono = 1300  # > every mono group (en: ~1260), <= X-Y usable (~1900)
    with pytest.raises(BabelirError, match="hybrid"):
        HybridSampler(POOL, too_big_for_mono, seed=0, alpha=0.5)
    assert HybridSampler(POOL, too_big_for_mono, seed=0, alpha=0.0).batch(0).kind == "cross"


# --------------------------------------------------------------- determinism and resuming


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_same_seed_same_batches_different_seed_different(strategy):
    a, b = make_sampler(strategy, POOL, BS, seed=42), make_sampler(strategy, POOL, BS, seed=42)
    other = make_sampler(strategy, POOL, BS, seed=43)
    first = _draw(a, 100)
    assert first == _draw(b, 100)
    assert sum(x == y for x, y in zip(first, _draw(other, 100))) == 0
    # the iterator gives the same batches as indexing by step
    it = a.batches()
    assert [next(it) for _ in range(20)] == first[:20]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_resumed_sampler_continues_the_unbroken_run(strategy):
    unbroken = make_sampler(strategy, POOL, BS, seed=9)
    it = unbroken.batches()
    reference = [next(it) for _ in range(300)]
    interrupted = make_sampler(strategy, POOL, BS, seed=9)
    it = interrupted.batches()
    for _ in range(137):
        next(it)
    state = json.loads(json.dumps(interrupted.state_dict()))  # survives a JSON checkpoint
    assert state["next_step"] == 137 and state["seed"] == 9
    resumed = make_sampler(strategy, POOL, BS, seed=12345)  # seed comes from the checkpoint
    resumed.load_state_dict(state)
    it = resumed.batches()
    assert [next(it) for _ in range(163)] == reference[137:]
    assert resumed.state_dict()["next_step"] == 300


def test_checkpoint_of_another_configuration_is_refused():
    state = HybridSampler(POOL, BS, seed=1, alpha=0.5).state_dict()
    with pytest.raises(BabelirError, match="alpha"):
        HybridSampler(POOL, BS, seed=1, alpha=0.25).load_state_dict(state)
    with pytest.raises(BabelirError, match="batch_size"):
        HybridSampler(POOL, BS * 2, seed=1).load_state_dict(state)
    with pytest.raises(BabelirError, match="strategy"):
        XYSampler(POOL, BS, seed=1).load_state_dict(state)
    other_pool = _tiny_pool({"A": (("de", "en"), ("de", "en"), 40)})
    with pytest.raises(BabelirError, match="pool"):
        XXSampler(other_pool, 8, seed=1).load_state_dict({**state, "strategy": "xx",
                                                          "batch_size": 8})
    with pytest.raises(BabelirError, match="next_step"):
        HybridSampler(POOL, BS, seed=1).load_state_dict({**state, "next_step": -1})
    with pytest.raises(BabelirError, match="lacks"):
        XYSampler(POOL, BS, seed=1).load_state_dict({"seed": 1, "next_step": 0})


# ------------------------------------------------------------------------ dataset choice


def _mono_usable(dataset: str) -> int:
    """Independent count: examples of the dataset both-in some language whose group >= BS."""
    rows = DS == dataset
    eligible = [j for j in range(len(LANGS)) if (BOTH[rows, j]).sum() >= BS]
    return int((BOTH[rows][:, eligible]).any(axis=1).sum())


@pytest.mark.slow
@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_dataset_choice_follows_size_to_the_power_one_over_temperature(temperature):
    sizes = {d: _mono_usable(d) for d in ("mlqa", "tydi")}
    weights = {d: n ** (1 / temperature) for d, n in sizes.items()}
    p_mlqa = weights["mlqa"] / sum(weights.values())
    sampler = XXMonoSampler(POOL, BS, seed=21, temperature=temperature)
    assert sampler.dataset_probabilities["mlqa"] == pytest.approx(p_mlqa)
    n = 3000
    n_mlqa = sum(b.dataset == "mlqa" for b in _draw(sampler, n))
    assert _four_sigma(n_mlqa, n, p_mlqa), (n_mlqa / n, p_mlqa)


def test_higher_temperature_flattens_and_xx_counts_its_own_usable_examples():
    p = [XXSampler(POOL, BS, seed=0, temperature=t).dataset_probabilities["mlqa"]
         for t in (1.0, 2.0, 1e6)]
    assert p[0] > p[1] > p[2] and p[2] == pytest.approx(0.5, abs=1e-5)
    rows = DS == "mlqa"
    n_mlqa, n_tydi = int(BOTH[rows].any(axis=1).sum()), int(BOTH[~rows].any(axis=1).sum())
    assert p[0] == pytest.approx(n_mlqa / (n_mlqa + n_tydi))


# ------------------------------------------------------------------------ shard, summary


@pytest.mark.parametrize("world_size", [1, 2, 4, 8])
def test_shards_are_disjoint_and_cover_the_global_batch(world_size):
    for batch in _draw(make_sampler("hybrid", POOL, BS, seed=4), 50):
        parts = [shard(batch, r, world_size) for r in range(world_size)]
        ids = [set(p.example_idx.tolist()) for p in parts]
        assert sum(len(s) for s in ids) == BS
        assert set().union(*ids) == set(batch.example_idx.tolist())
        assert all(len(p) == BS // world_size for p in parts)
        for name in ("example_idx", "query_lang", "passage_lang"):
            assert np.array_equal(np.concatenate([getattr(p, name) for p in parts]),
                                  getattr(batch, name))
        assert all((p.kind, p.dataset, p.lang, p.step) == (batch.kind, batch.dataset,
                                                           batch.lang, batch.step) for p in parts)


def test_shard_errors():
    batch = XYSampler(POOL, BS, seed=0).batch(0)
    with pytest.raises(BabelirError, match="not divisible"):
        shard(batch, 0, 3)
    with pytest.raises(BabelirError, match="rank"):
        shard(batch, 4, 4)
    with pytest.raises(BabelirError, match="rank"):
        shard(batch, -1, 4)
    with pytest.raises(BabelirError, match="world_size"):
        shard(batch, 0, 0)


def test_summarise_counts_kinds_pairs_and_datasets():
    langs = ("de", "en")
    handmade = [
        Batch(example_idx=np.array([0, 1, 2]), query_lang=np.array([0, 0, 1]),
              passage_lang=np.array([1, 1, 0]), kind="cross", dataset="mlqa", languages=langs),
        Batch(example_idx=np.array([3, 4, 5]), query_lang=np.array([1, 1, 1]),
              passage_lang=np.array([1, 1, 1]), kind="mono", dataset="tydi", languages=langs,
              lang="en"),
    ]
    assert summarise(iter(handmade)) == {
        "batches": 2, "pairs": 6, "kinds": {"cross": 1, "mono": 1},
        "datasets": {"mlqa": 1, "tydi": 1}, "mono_languages": {"en": 1},
        "language_pairs": {"de": {"en": 2}, "en": {"de": 1, "en": 3}}}


def test_summarise_agrees_with_a_direct_count():
    batches = _draw(HybridSampler(POOL, BS, seed=8), 400)
    summary = summarise(batches)
    pairs: dict[tuple[str, str], int] = {}
    for b in batches:
        for _, q, p in b.pairs():
            pairs[q, p] = pairs.get((q, p), 0) + 1
    flat = {(q, p): n for q, row in summary["language_pairs"].items() for p, n in row.items()}
    assert flat == pairs
    assert summary["pairs"] == 400 * BS and summary["batches"] == 400
    assert summary["kinds"]["mono"] == sum(b.kind == "mono" for b in batches)
    assert summary["kinds"]["mono"] == sum(summary["mono_languages"].values())
    assert sum(summary["datasets"].values()) == 400


# ------------------------------------------------------------------------------- errors


def _largest_usable(strategy: str) -> int:
    """Independent count of the largest batch each strategy can form on POOL."""
    cross = np.zeros(POOL.n_examples, dtype=bool)
    for q in range(len(LANGS)):
        for p in range(len(LANGS)):
            cross |= (HQ[:, q] & HP[:, p]) if q != p else False
    mono = int(max(BOTH[DS == d].sum(axis=0).max() for d in ("mlqa", "tydi")))
    return {"xx-mono": mono, "en-en": int(BOTH[:, _col("en")].sum()),
            "xx": int(max(BOTH[DS == d].any(axis=1).sum() for d in ("mlqa", "tydi"))),
            "xy": int(cross[DS == "mlqa"].sum()),
            "hybrid": mono}[strategy]  # its X-X-mono part binds first: mono < xy here


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_batch_size_above_every_count_fails_in_the_constructor(strategy):
    largest = _largest_usable(strategy)
    make_sampler(strategy, POOL, largest, seed=0).batch(0)  # exactly the largest count: fine
    with pytest.raises(BabelirError) as caught:
        make_sampler(strategy, POOL, largest + 1, seed=0)
    message = str(caught.value)
    assert f"'{strategy}'" in message and f"batch_size={largest + 1}" in message
    assert f"largest available count is {largest} " in message


def test_no_cross_lingual_data_means_no_xy_sampler():
    rows, cols = np.flatnonzero(DS == "tydi"), [_col(lang) for lang in TYDI_SIZES]
    pool = ExamplePool.from_arrays([POOL.example_ids[i] for i in rows], ["tydi"] * len(rows),
                                   tuple(TYDI_SIZES), HQ[rows][:, cols], HP[rows][:, cols])
    with pytest.raises(BabelirError, match=r"'xy'.*batch_size=2\b.*largest available count is 0"):
        XYSampler(pool, 2, seed=0)
    with pytest.raises(BabelirError, match="'en-en'.*no language 'en'"):
        EnEnSampler(pool, 2, seed=0)
    assert XXSampler(pool, 2, seed=0).batch(0).kind == "mixed"
    with_empty_en = ExamplePool.from_arrays(
        pool.example_ids, pool.datasets, ("en",) + pool.languages,
        np.pad(pool.has_question, ((0, 0), (1, 0))), np.pad(pool.has_passage, ((0, 0), (1, 0))))
    with pytest.raises(BabelirError, match=r"'en-en'.*\(of: en\).*largest available count is 0"):
        EnEnSampler(with_empty_en, 2, seed=0)


def test_unknown_strategy_lists_the_valid_names():
    with pytest.raises(BabelirError) as caught:
        make_sampler("x-x", POOL, BS, seed=0)
    assert all(name in str(caught.value) for name in STRATEGIES)


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": -0.1}, "alpha"), ({"alpha": 1.1}, "alpha"), ({"alpha": float("nan")}, "alpha"),
    ({"alpha": "half"}, "alpha"), ({"temperature": 0}, "temperature"),
    ({"temperature": -1.0}, "temperature"), ({"temperature": float("inf")}, "temperature"),
    ({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"),
    ({"batch_size": True}, "batch_size"), ({"seed": -1}, "seed"), ({"seed": 2**32}, "seed"),
])
def test_bad_parameters(kwargs, match):
    args = {"pool": POOL, "batch_size": BS, "seed": 0, **kwargs}
    with pytest.raises(BabelirError, match=match):
        make_sampler("hybrid", **args)


def test_bad_step():
    sampler = XXSampler(POOL, BS, seed=0)
    with pytest.raises(BabelirError, match="step"):
        sampler.batch(-1)
    with pytest.raises(BabelirError, match="start_step"):
        next(sampler.batches(start_step=-3))


# ---------------------------------------------------------------------------------- pool


def _records():
    return [
        {"example_id": "a", "dataset": "mlqa", "lang": "en", "question": "Q?", "passage": "P."},
        {"example_id": "a", "dataset": "mlqa", "lang": "de", "question": "F?", "passage": None},
        {"example_id": "b", "dataset": "tydi", "lang": "fi", "question": "K?", "passage": "  "},
        {"example_id": "c", "dataset": "mlqa", "lang": "de", "passage": "T."},
    ]


def test_pool_from_records():
    pool = ExamplePool.from_records(_records())
    assert pool.example_ids == ["a", "b", "c"] and pool.languages == ("de", "en", "fi")
    assert pool.datasets == ["mlqa", "tydi", "mlqa"] and pool.dataset_names == ("mlqa", "tydi")
    assert pool.dataset_index.tolist() == [0, 1, 0]
    assert pool.has_question.tolist() == [[True, True, False], [False, False, True],
                                          [False, False, False]]
    assert pool.has_passage.tolist() == [[False, True, False], [False, False, False],
                                         [True, False, False]]  # blank passage = absent
    assert pool.fingerprint() == ExamplePool.from_records(_records()).fingerprint()
    changed = _records()
    changed[1]["passage"] = "D."
    assert pool.fingerprint() != ExamplePool.from_records(changed).fingerprint()


@pytest.mark.parametrize("edit, match", [
    (lambda r: r.append(dict(r[0], question="again")), "second record.*'a'.*'en'"),
    (lambda r: r.append(dict(r[0], lang="es", dataset="tydi")), "'a' is in dataset 'tydi'"),
    (lambda r: r[0].pop("lang"), "missing key"),
    (lambda r: r[0].update(question=3), "question must be a string"),
    (lambda r: r[0].update(example_id=""), "example_id must be a non-empty string"),
    (lambda r: r.clear(), "empty example pool"),
])
def test_pool_from_records_errors(edit, match):
    records = _records()
    edit(records)
    with pytest.raises(BabelirError, match=match):
        ExamplePool.from_records(records)


def test_pool_from_arrays_errors():
    ok = dict(example_ids=["a", "b"], datasets=["d", "d"], languages=("en", "de"),
              has_question=np.ones((2, 2), dtype=bool), has_passage=np.ones((2, 2), dtype=bool))
    ExamplePool.from_arrays(**ok)
    cases = [
        ({"example_ids": ["a", "a"]}, "duplicate example ids.*'a'"),
        ({"datasets": ["d"]}, "datasets has 1 entries for 2 examples"),
        ({"languages": ("en", "en")}, "duplicate languages"),
        ({"has_question": np.ones((2, 3), dtype=bool)}, r"has_question has shape \(2, 3\)"),
        ({"has_passage": np.ones((2, 2))}, "has_passage must be a boolean array"),
        ({"example_ids": [], "datasets": [], "has_question": np.ones((0, 2), dtype=bool),
          "has_passage": np.ones((0, 2), dtype=bool)}, "empty example pool"),
    ]
    for change, match in cases:
        with pytest.raises(BabelirError, match=match):
            ExamplePool.from_arrays(**{**ok, **change})
    pool = ExamplePool.from_arrays(**ok)
    with pytest.raises(ValueError):  # the sampler's precomputed groups rely on this
        pool.has_question[0, 0] = False


def test_cross_only_datasets_never_enter_same_language_batches():
    """Parallel-sentence datasets (XNLI) pair a premise with itself in one language."""
    records = []
    for i in range(40):
        for lang in ("de", "en", "fr"):
            records.append({"example_id": f"x{i}", "dataset": "xnli", "lang": lang,
                            "question": f"p{i}{lang}", "passage": f"p{i}{lang}"})
            records.append({"example_id": f"q{i}", "dataset": "qa", "lang": lang,
                            "question": f"q{i}{lang}", "passage": f"a{i}{lang}"})
    pool = ExamplePool.from_records(records, cross_only_datasets={"xnli"})
    for strategy in ("xx-mono", "xx"):
        sampler = make_sampler(strategy, pool, 8, 0)
        assert {sampler.batch(s).dataset for s in range(200)} == {"qa"}
    xy = make_sampler("xy", pool, 8, 0)
    assert {xy.batch(s).dataset for s in range(200)} == {"qa", "xnli"}
    assert pool.fingerprint() != ExamplePool.from_records(records).fingerprint()
