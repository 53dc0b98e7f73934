"""Shared fixtures, and the two test tiers.

Tests that need the real data read it through the one data setting ($BABELIR_DATA) and
FAIL — never skip — when it is missing.

Tiers: ``pytest -m "not slow"`` is the fast tier (no data folder, no Apertium, no model
built or converted; seconds); plain ``pytest`` runs everything (CI: scripts/test.sh). A test
lands in the slow tier automatically (``pytest_collection_modifyitems`` below) when it

* uses the ``data_dir`` fixture, directly or through another fixture (marker ``data``);
* uses the ``apertium`` fixture (marker ``apertium``);
* uses a model fixture of ``FIXTURE_MARKERS`` (``tiny_model``, …), or sits in a module of
  ``MODEL_MODULES`` (marker ``model``: it builds, converts or loads a transformer model);
* uses another slow fixture of ``FIXTURE_MARKERS``, or is listed in ``SLOW_TESTS``;
* carries one of the markers ``data``, ``apertium``, ``model`` itself (in the test file:
  ``@pytest.mark.model``, or ``@pytest.mark.data`` where it reads the data folder without
  the fixture);
* or is marked ``slow`` by hand (over ~1 s for another reason).

When the ``-m`` expression leaves out every slow test, the modules of ``MODEL_MODULES`` are
not even imported (``pytest_ignore_collect``): their imports (sentence-transformers) alone
take longer than the whole fast tier.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest

from babelir.settings import DATA_ENV

# markers that put a test in the slow tier (registered in pyproject.toml)
SLOW_MARKERS = ("data", "apertium", "model")

# fixture -> the marker of every test that uses it (directly or through other fixtures)
FIXTURE_MARKERS = {
    "data_dir": "data",
    "apertium": "apertium",
    # models built, converted or trained (sentence-transformers' import alone: 10-30 s)
    "tiny_model": "model",
    "tiny_models": "model",
    "two_models": "model",
    "models": "model",
    "model_dir": "model",
    "st_model": "model",
    "onnx_root": "model",
    "trained_model": "model",
    "trained": "model",
    # faiss HNSW / IVF-PQ indexes trained on 20,000 vectors
    "approx": "slow",
}

# test modules where (nearly) every test builds, converts or loads a model, or whose imports
# alone (sentence-transformers) take longer than the whole fast tier
MODEL_MODULES = {
    "test_clean_load.py",
    "test_model_card.py",
    "test_model_conversion.py",
    "test_st_evaluator.py",
}

# single slow tests in modules that are not marked in place (file name::test name)
SLOW_TESTS = {
    "test_eval_registry.py::test_toy_benchmark_and_retriever_through_the_cli",
    # select_on: mlqa-val:… is checked through evaluation.st_evaluator (sentence-transformers)
    "test_experiment_recipe.py::test_recipe_config_plans_shared_trainings",
}

# a fast-tier test (setup or call) over this many seconds is listed at the end of the run
# (the first test to load a shared resource, e.g. the XLM-R tokeniser, pays ~1-3 s for it)
SLOW_SECONDS = 3.0
_over_time: list[tuple[float, str]] = []


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get(DATA_ENV)
    if not value:
        pytest.fail(f"${DATA_ENV} is not set: point it at the data folder (CI: ../shared/data)")
    path = Path(value)
    if not (path / "lareqa" / "xquad-r" / "en.json").is_file():
        pytest.fail(f"${DATA_ENV}={value} does not hold lareqa/xquad-r/en.json")
    return path


def _tier_markers(item: pytest.Item) -> set[str]:
    """The slow-tier markers ``item`` gets from its fixtures, module and own marks."""
    names = {FIXTURE_MARKERS[f] for f in item.fixturenames if f in FIXTURE_MARKERS}
    module = Path(str(item.fspath)).name
    if module in MODEL_MODULES:
        names.add("model")
    if f"{module}::{getattr(item, 'originalname', item.name)}" in SLOW_TESTS:
        names.add("slow")
    names.update(m for m in SLOW_MARKERS if item.get_closest_marker(m) is not None)
    return names


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what the fast tier must not run: see the module docstring. (Marks added here
    still count for ``-m``: pytest deselects after this hook.)"""
    for item in items:
        names = _tier_markers(item)
        for name in sorted(names - {m.name for m in item.iter_markers()}):
            item.add_marker(name)
        if names and item.get_closest_marker("slow") is None:
            item.add_marker("slow")


def _never_selects(config: pytest.Config, markers: set[str]) -> bool:
    """Whether the ``-m`` expression refuses every test that carries ``markers``, whatever
    other markers it has (each other name of the expression tried present and absent)."""
    expression = config.getoption("markexpr", default="")
    try:
        from _pytest.mark import expression as mark_expression
    except ImportError:  # a pytest without this (internal) API: collect, deselect later
        return False
    others = sorted(set(re.findall(r"[\w.+/\\:-]+", expression or ""))
                    - {"and", "or", "not"} - markers)
    if not expression or len(others) > 8:
        return False
    bad = (SyntaxError, TypeError, getattr(mark_expression, "ParseError", SyntaxError))
    try:
        compiled = mark_expression.Expression.compile(expression)
        for present in itertools.product((False, True), repeat=len(others)):
            names = markers | {n for n, p in zip(others, present) if p}
            if compiled.evaluate(lambda name, names=names, **_: name in names):
                return False
    except bad:  # a bad -m: pytest itself reports it
        return False
    return True


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip importing a model module when ``-m`` deselects every test in it."""
    if collection_path.name in MODEL_MODULES and _never_selects(config, {"slow", "model"}):
        return True
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when in ("setup", "call") and report.duration > SLOW_SECONDS \
            and "slow" not in report.keywords:
        _over_time.append((report.duration, f"{report.nodeid} ({report.when})"))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """In the fast tier, name the tests that took too long: they belong in the slow one."""
    if _over_time and _never_selects(config, {"slow"}):
        terminalreporter.write_sep("-", f"fast-tier tests over {SLOW_SECONDS:g} s: mark them "
                                        "slow (see tests/conftest.py)")
        for seconds, name in sorted(_over_time, reverse=True):
            terminalreporter.write_line(f"{seconds:6.1f} s  {name}")


@pytest.fixture(scope="session")
def pairs_file(data_dir, tmp_path_factory):
    """MLQA-test training pairs in de/es/zh (the training tests' small real pairs file)."""
    from babelir.data.pairs import make_pairs

    pairs, _ = make_pairs(["mlqa-test"], data_dir, languages=["de", "es", "zh"])
    path = tmp_path_factory.mktemp("pairs") / "pairs.parquet"
    pairs.to_parquet(path)
    return path


def write_tiny_experiment(folder: Path, model, data_dir, systems: list[dict], *, steps: int,
                          eval_articles: int, name: str = "tiny", **extra) -> Path:
    """A small experiment YAML on MLQA-test pairs in de/es/zh and a model (the tiny one), for
    the experiment runner's end-to-end tests; ``extra`` adds or replaces top-level keys."""
    import yaml

    langs = ["de", "es", "zh"]
    config = {
        "name": name,
        "results": str(folder / "results" / name), "work": str(folder / "work"),
        "data_dir": str(data_dir),
        "pairs": {"out": str(folder / "pairs.parquet"), "sources": ["mlqa-test"],
                  "languages": langs},
        "train": {"overrides": {"model": str(model), "batch_size": 8, "steps": steps,
                                "eval_every": steps, "save_every": steps, "dev_batches": 1,
                                "max_length": 32, "learning_rate": 1.0e-3, "device": "cpu",
                                "select_on": "dev_loss"}},
        "systems": systems,
        "benchmarks": ["xquad-r"],
        "eval": {"languages": langs, "max_articles": eval_articles, "max_length": 32},
        **extra,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
