"""Known benchmarks: where their files live upstream, their checksums, and how to find them.

A benchmark's files are looked up, in order, in (1) the data folder setting (``--data-dir`` /
``$BABELIR_DATA``), laid out like the upstream sources (``lareqa/xquad-r/<lang>.json``, …),
(2) the user cache (``<cache>/data/…``), and (3) only then downloaded from the pinned upstream
URL into the cache, with its SHA-256 checked where it is known.

Without a data setting, a benchmark that ships with babelir (XQuAD-R only, ``data.bundled``)
is read from that bundle instead, its SHA-256 checked at every read; the data setting, when
given, always wins. MLQA-R and MIRACL are never bundled.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from babelir.errors import BabelirError, DataError
from babelir.io import atomic_path, sha256_of

LAREQA_XQUAD_COMMIT = "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c"
LAREQA_MLQA_COMMIT = "354d67d1cd066854cdfbf5ad0e6105528976141d"  # MLQA-R was removed after this
LAREQA_RAW = "https://raw.githubusercontent.com/google-research-datasets/lareqa"


@dataclass(frozen=True)
class BenchmarkSpec:
    """A LAReQA-format benchmark: one SQuAD-style JSON file per language."""

    name: str
    languages: tuple[str, ...]
    relative_dir: str  # inside the data folder, as upstream
    url_template: str  # with {lang}
    sha256: dict[str, str] = field(default_factory=dict)  # per language; empty = unknown
    licence: str = ""
    file_suffix: str = ".json"

    def relative_path(self, key: str) -> str:
        """A file's path in the data folder: ``key`` is a language (or, for a validation
        benchmark, a file key)."""
        return f"{self.relative_dir}/{key}{self.file_suffix}"


BENCHMARKS: dict[str, BenchmarkSpec] = {
    "xquad-r": BenchmarkSpec(
        name="xquad-r",
        languages=("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"),
        relative_dir="lareqa/xquad-r",
        url_template=f"{LAREQA_RAW}/{LAREQA_XQUAD_COMMIT}/xquad-r/{{lang}}.json",
        sha256={
            "ar": "c52922d3b8ac1ae03ed5ac38647ad59870dca3dda2beefe18ecdc30729acb69d",
            "de": "16fb0f4bf4916154b585a20c24c66074591c9718a1affe764ff4697572328949",
            "el": "163fd43ee785a30eb534ae2061e9eaa766a7ee4e8ffce5e4b422480c150f64b6",
            "en": "7b0954f39297c27a31fef610f0883337dd2907fa8699151dc922afdd0fa12ffe",
            "es": "f8e836b2d91009c4363e04315f7ede363eedbbb49c67dda60de6c4aa782f58de",
            "hi": "ea45ba8ae4513d1533b222bebdc02a90bc319c055d3aeea68584a053d2e92872",
            "ru": "7f4dff853538b9a5fcc28c070b8bb983a5c5d190ac747b8e005a1ada9cab18f1",
            "th": "c3a041864c3a9fb0b4dd91cfdf99cf36b411b3e704c58a303c97bc6dc786cfe4",
            "tr": "f3e8c13002bbce154a4578f535f7533cb70f3da08840e6b62735935baec7bd94",
            "vi": "e35926bf5cc6fc6ecbdfca49467aabeb454f08d152d7818143a906bd31dde995",
            "zh": "80c2cde7b9c2fb134c303cbb52f2ba396ead9eb0014aec43993543d2ba9e93ed",
        },
        licence="CC BY-SA 4.0",
    ),
    "mlqa-r": BenchmarkSpec(
        name="mlqa-r",
        languages=("ar", "de", "en", "es", "hi", "vi", "zh"),
        relative_dir="lareqa/mlqa-r",
        url_template=f"{LAREQA_RAW}/{LAREQA_MLQA_COMMIT}/mlqa-r/{{lang}}.json",
        sha256={},  # not verified offline: no local copy exists to hash
        licence="CC BY-NC 4.0",
    ),
}


@dataclass(frozen=True)
class ValidationSpec(BenchmarkSpec):
    """A validation benchmark built from the DEV split of a training source
    (``babelir.data.validation``), for model selection (data README, rule 4): it lives in the
    data folder only (never downloaded) and is loaded by ``babelir.data.lareqa.load_benchmark``
    like any benchmark. ``source`` is the ``babelir data build-pairs`` source whose dev split
    it uses; ``files`` maps a file key (what ``bench.files`` is keyed by) to its path in the
    data folder, relative to ``relative_dir``."""

    source: str = ""


# Validation benchmarks, kept apart from BENCHMARKS so that an experiment's ``auto`` benchmark
# list (every test benchmark whose files are found) does not change; ``get_benchmark`` and the
# CLI's ``--benchmark`` know both.
VALIDATION_BENCHMARKS: dict[str, ValidationSpec] = {
    "mlqa-val": ValidationSpec(
        name="mlqa-val",
        languages=("de", "es", "vi", "zh"),
        relative_dir="mlqa/test",
        url_template="",
        licence="CC BY-SA 3.0",
        source="mlqa-test",
    ),
    "xnli-val": ValidationSpec(
        name="xnli-val",
        languages=("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur",
                   "vi", "zh"),
        relative_dir="xnli",
        url_template="",
        licence="CC BY-NC 4.0",
        source="xnli",
        file_suffix=".tsv",
    ),
    "tydi-val": ValidationSpec(
        name="tydi-val",
        languages=("en", "ko", "sw"),
        relative_dir="tydiqa/goldp-train",
        url_template="",
        licence="Apache-2.0",
        source="tydiqa-goldp:train",
    ),
}


def benchmark_names() -> list[str]:
    """Every benchmark ``get_benchmark`` knows: the test benchmarks, then the validation ones."""
    return [*BENCHMARKS, *VALIDATION_BENCHMARKS]


def get_benchmark(name: str) -> BenchmarkSpec:
    """The spec of a known benchmark, or a clear error listing the known ones."""
    spec = BENCHMARKS.get(name) or VALIDATION_BENCHMARKS.get(name)
    if spec is None:
        raise BabelirError(f"unknown benchmark {name!r}; known: {', '.join(benchmark_names())}")
    return spec


def check_languages(spec: BenchmarkSpec, languages: list[str] | None) -> tuple[str, ...]:
    """Validate a user's language subset (None = all), keeping the benchmark's order."""
    if not languages:
        return spec.languages
    unknown = [lang for lang in languages if lang not in spec.languages]
    if unknown:
        raise BabelirError(
            f"unknown language code(s) {', '.join(unknown)} for {spec.name}; "
            f"valid: {', '.join(spec.languages)}"
        )
    return tuple(lang for lang in spec.languages if lang in languages)


def _download(url: str, target: Path, expected_sha256: str | None) -> Path:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_path(target) as tmp:
            tmp.write_bytes(response.read())
            if expected_sha256 and sha256_of(tmp) != expected_sha256:
                raise DataError(f"checksum mismatch for download of {url}", path=target)
    except (urllib.error.URLError, OSError) as exc:
        raise BabelirError(f"could not download {url} ({exc})") from exc
    return target


def resolve_file(
    spec: BenchmarkSpec, lang: str, data_dir: Path | None, cache_dir: Path | None, online: bool
) -> Path:
    """Find one language file: data folder, then cache, then (if online) download to the cache.
    With no data folder, a bundled benchmark (``data.bundled``) comes from babelir's own copy,
    checked and kept as a plain file in the cache."""
    from babelir.data import bundled

    relative = spec.relative_path(lang)
    if data_dir is None and bundled.has_bundle(spec.name):
        if cache_dir is None:
            from babelir.settings import cache_dir as default_cache_dir

            cache_dir = default_cache_dir()
        return bundled.bundled_file(spec, lang, Path(cache_dir))
    tried = []
    for root in (data_dir, cache_dir / "data" if cache_dir else None):
        if root is None:
            continue
        candidate = Path(root) / relative
        if candidate.is_file():
            return candidate
        tried.append(str(candidate))
    if online and cache_dir is not None:
        return _download(spec.url_template.format(lang=lang), cache_dir / "data" / relative,
                         spec.sha256.get(lang))
    hint = "set --data-dir or $BABELIR_DATA to a folder laid out like the upstream sources"
    if bundled.has_bundle(spec.name):
        hint += (f" (or leave the data setting unset to read the copy of {spec.name} bundled "
                 "with babelir)")
    raise DataError(
        f"{spec.name} file for {lang!r} not found (looked in: {', '.join(tried) or 'nowhere'}); "
        f"{hint}, or pass --online to download {spec.url_template.format(lang=lang)}",
        path=relative,
    )
