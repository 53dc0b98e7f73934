"""The benchmarks ``babelir eval`` knows, by name, in one registry: the LAReQA-format ones of
``data.registry`` (XQuAD-R, MLQA-R, mlqa-val, xnli-val) and MIRACL.

A ``--benchmark`` value is ``NAME`` or ``NAME:ARGUMENT`` (``miracl:sw,te``); the factory
registered under ``NAME`` makes the ``evaluation.benchmark.Benchmark`` from the whole value.
A new benchmark is a ``Benchmark`` subclass plus one ``register_benchmark`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from babelir.errors import BabelirError
from babelir.evaluation.benchmark import Benchmark


@dataclass(frozen=True)
class BenchmarkEntry:
    """``factory(value)`` makes the benchmark; ``usage`` shows how to name it, ``help`` what
    it is."""

    factory: Callable[[str], Benchmark]
    usage: str
    help: str = ""


_ENTRIES: dict[str, BenchmarkEntry] = {}


def register_benchmark(name: str, factory: Callable[[str], Benchmark], usage: str | None = None,
                       help: str = "") -> None:
    """Register ``factory`` under ``name`` (replacing an entry of that name)."""
    _entries()[name] = BenchmarkEntry(factory, usage or name, help)


def unregister_benchmark(name: str) -> None:
    _entries().pop(name, None)


def _lareqa(name: str) -> Callable[[str], Benchmark]:
    def make(value: str) -> Benchmark:
        from babelir.data.registry import get_benchmark
        from babelir.evaluation.lareqa_benchmark import LareqaBenchmark

        if value != name:
            raise BabelirError(f"benchmark {name} takes no ':' argument, got {value!r}")
        return LareqaBenchmark(get_benchmark(name))

    return make


def _miracl(value: str) -> Benchmark:
    from babelir.evaluation.miracl_benchmark import MiraclBenchmark

    return MiraclBenchmark(value)


def _entries() -> dict[str, BenchmarkEntry]:
    """The registry, with the built-in benchmarks added on first use."""
    if not _ENTRIES:
        from babelir.data.registry import BENCHMARKS, VALIDATION_BENCHMARKS

        for name in BENCHMARKS:
            _ENTRIES[name] = BenchmarkEntry(_lareqa(name), name, "LAReQA-format test set")
        _ENTRIES["miracl"] = BenchmarkEntry(_miracl, "miracl[:sw,te,...]",
                                            "needs --corpus, or --online")
        for name in VALIDATION_BENCHMARKS:
            _ENTRIES[name] = BenchmarkEntry(
                _lareqa(name), name, "validation set from the training sources' dev split, "
                                     "data folder only")
    return _ENTRIES


def benchmark_names() -> list[str]:
    return list(_entries())


def benchmark_usage() -> str:
    """How to name each benchmark, for the command line's help and errors."""
    return ", ".join(entry.usage + (f" ({entry.help})" if entry.help else "")
                     for entry in _entries().values())


def benchmark_entry(value: str) -> BenchmarkEntry:
    """The entry a ``--benchmark`` value names (its part before any ':')."""
    name = value.partition(":")[0]
    entry = _entries().get(name)
    if entry is None:
        raise BabelirError(f"unknown benchmark {value!r}; known: "
                           f"{', '.join(e.usage for e in _entries().values())}")
    return entry


def make_benchmark(value: str) -> Benchmark:
    """The benchmark a ``--benchmark`` value names."""
    return benchmark_entry(value).factory(value)
