"""XQuAD-R ships with babelir: the bundle equals the data folder's files, is read (and checked)
when there is no data setting, yields the same benchmark and the same BM25 numbers, and a
damaged bundle is a clear error. The data setting still wins; nothing else is bundled."""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import sys
from pathlib import Path

import pytest

from babelir.cli import main
from babelir.data import bundled
from babelir.data.lareqa import load_benchmark
from babelir.data.registry import get_benchmark, resolve_file
from babelir.errors import DataError
from babelir.io import sha256_of
from babelir.settings import CACHE_ENV, DATA_ENV
from babelir.settings import data_dir as data_setting

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None

SPEC = get_benchmark("xquad-r")
BUNDLE = Path(bundled.__file__).parent / "xquad-r"
BM25_SUBSET = ["--model", "bm25", "--benchmark", "xquad-r", "--languages", "en,de,zh",
               "--max-articles", "3"]


@pytest.fixture
def no_data_setting(monkeypatch, tmp_path):
    """No ``$BABELIR_DATA``; a private cache."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _unpacked(lang: str) -> bytes:
    return lzma.decompress((BUNDLE / f"{lang}.json.xz").read_bytes())


# ------------------------------------------------------------------------ the bundle itself


def test_manifest_lists_every_language_with_the_registry_checksums():
    record = bundled.manifest("xquad-r")
    assert record["commit"] == "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c"
    assert record["licence"] == "CC BY-SA 4.0"
    assert set(record["files"]) == {f"{lang}.json" for lang in SPEC.languages}
    for lang in SPEC.languages:
        entry = record["files"][f"{lang}.json"]
        assert entry["sha256"] == SPEC.sha256[lang]
        assert sha256_of(BUNDLE / entry["stored_as"]) == entry["stored_sha256"]
        data = _unpacked(lang)
        assert len(data) == entry["bytes"]
        assert hashlib.sha256(data).hexdigest() == SPEC.sha256[lang]
    assert sha256_of(BUNDLE / "LICENSE") == record["licence_sha256"]
    attribution = (BUNDLE / "ATTRIBUTION.md").read_text(encoding="utf-8")
    for needed in ("CC BY-SA 4.0", record["commit"], "google-research-datasets/lareqa",
                   "LICENSE", "Changes"):
        assert needed in attribution
    packed = sum(p.stat().st_size for p in BUNDLE.glob("*.xz"))
    assert packed < 2_500_000, packed


def test_bundled_files_equal_the_data_folder_originals(data_dir):
    folder = data_dir / SPEC.relative_dir
    for lang in SPEC.languages:
        assert hashlib.sha256(_unpacked(lang)).hexdigest() == sha256_of(folder / f"{lang}.json")
    assert (BUNDLE / "LICENSE").read_bytes() == (folder / "LICENSE").read_bytes()


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_package_data_patterns_cover_the_bundle():
    """pyproject's package-data ships every bundle file in the wheel."""
    from fnmatch import fnmatch

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["babelir.data.bundled"]
    files = [p.relative_to(BUNDLE.parent).as_posix() for p in BUNDLE.iterdir() if p.is_file()]
    assert len(files) == len(SPEC.languages) + 3  # + LICENSE, MANIFEST.json, ATTRIBUTION.md
    for name in files:
        assert any(fnmatch(name, pattern) for pattern in patterns), name


# ------------------------------------------------------------------------------ resolution


def test_no_data_setting_gives_the_same_benchmark_as_the_data_folder(data_dir, no_data_setting):
    assert data_setting() is None
    from_bundle = load_benchmark(SPEC, data_setting(), None)
    from_folder = load_benchmark(SPEC, data_dir, no_data_setting)
    assert from_bundle.n_queries == from_folder.n_queries == 11 * 1190
    assert from_bundle.n_candidates == from_folder.n_candidates == 13014
    for field in ("languages", "cand_ids", "cand_sentences", "cand_contexts", "query_ids",
                  "query_xids", "query_texts"):
        assert getattr(from_bundle, field) == getattr(from_folder, field), field
    assert (from_bundle.gold == from_folder.gold).all()
    assert (from_bundle.cand_lang == from_folder.cand_lang).all()
    assert (from_bundle.query_lang == from_folder.query_lang).all()
    for lang, path in from_bundle.files.items():  # plain checked copies in the cache
        assert Path(path) == no_data_setting / "bundled" / "xquad-r" / f"{lang}.json"
        assert sha256_of(path) == SPEC.sha256[lang]


def test_a_changed_cached_copy_is_rewritten(no_data_setting):
    path = resolve_file(SPEC, "en", None, None, online=False)
    path.write_text('{"data": []}')
    assert resolve_file(SPEC, "en", None, None, online=False) == path
    assert sha256_of(path) == SPEC.sha256["en"]


def test_the_data_setting_wins_over_the_bundle(data_dir, tmp_path, monkeypatch):
    root = tmp_path / "data" / SPEC.relative_dir
    root.mkdir(parents=True)
    doc = json.loads((data_dir / SPEC.relative_dir / "en.json").read_text())
    doc["data"] = doc["data"][:1]
    (root / "en.json").write_text(json.dumps(doc))
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    bench = load_benchmark(SPEC, data_setting(), tmp_path / "cache", languages=["en"])
    assert bench.files["en"] == str(root / "en.json")
    assert bench.n_queries == sum(len(p["qas"]) for p in doc["data"][0]["paragraphs"])
    # a data folder without the file is not silently replaced by the bundle
    with pytest.raises(DataError, match=r"de\.json.*not found.*bundled"):
        load_benchmark(SPEC, data_setting(), tmp_path / "cache", languages=["de"])


@pytest.mark.parametrize("name", ["mlqa-r"])
def test_other_benchmarks_are_not_bundled(name, no_data_setting):
    assert not bundled.has_bundle(name)
    with pytest.raises(DataError, match="not found.*--data-dir.*--online"):
        load_benchmark(get_benchmark(name), data_setting(), no_data_setting, languages=["en"])


@pytest.mark.parametrize("name", ["mlqa-val", "xnli-val"])
def test_validation_pools_need_the_data_folder(name, no_data_setting):
    with pytest.raises(DataError, match="data folder"):
        load_benchmark(get_benchmark(name), data_setting(), no_data_setting)


def test_cli_without_data_setting_on_mlqa_r_is_a_clear_error(no_data_setting, tmp_path, capsys):
    code = main(["eval", "--model", "bm25", "--benchmark", "mlqa-r", "--languages", "en",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "mlqa-r file for 'en' not found" in err and "Traceback" not in err


# ------------------------------------------------------------------------ a damaged bundle


def _damage_copy(tmp_path, monkeypatch, how: str) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE.parent / "xquad-r", copy / "xquad-r")
    target = copy / "xquad-r" / "en.json.xz"
    if how == "flipped byte":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif how == "other content":  # valid xz, different JSON
        target.write_bytes(lzma.compress(_unpacked("en").replace(b"Panthers", b"Panther")))
    elif how == "missing":
        target.unlink()
    elif how == "manifest":
        manifest = copy / "xquad-r" / "MANIFEST.json"
        record = json.loads(manifest.read_text())
        record["files"]["en.json"]["sha256"] = "0" * 64
        manifest.write_text(json.dumps(record))
    monkeypatch.setattr(bundled, "ROOT", copy)
    return target


@pytest.mark.parametrize("how, message", [
    ("flipped byte", r"en\.json\.xz: (bundled file is not valid xz|checksum mismatch)"),
    ("other content", r"en\.json\.xz: checksum mismatch.*expected " + SPEC.sha256["en"]),
    ("missing", r"en\.json\.xz: bundled file not found"),
    ("manifest", r"MANIFEST\.json: the bundled manifest's SHA-256 of en\.json .* differs"),
])
def test_a_damaged_bundle_is_a_clear_error(how, message, no_data_setting, tmp_path,
                                           monkeypatch, capsys):
    _damage_copy(tmp_path, monkeypatch, how)
    with pytest.raises(DataError, match=message):
        resolve_file(SPEC, "en", None, None, online=False)
    assert resolve_file(SPEC, "de", None, None, online=False).is_file()  # others still load
    code = main(["eval", *BM25_SUBSET, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("babelir: error: ") and "Traceback" not in err
    assert "en.json" in err and "--data-dir" in err
    assert not (tmp_path / "out").exists()


# -------------------------------------------------------------------------------- numbers


def test_bm25_without_the_data_setting_equals_bm25_with_it(data_dir, no_data_setting,
                                                           tmp_path):
    assert main(["eval", *BM25_SUBSET, "--data-dir", str(data_dir),
                 "--out", str(tmp_path / "with")]) == 0
    assert main(["eval", *BM25_SUBSET, "--out", str(tmp_path / "without")]) == 0
    with_, without = (json.loads((tmp_path / run / "results.json").read_text())
                      for run in ("with", "without"))
    for key in ("summary", "mono", "cross", "multi", "pairs", "data_files"):
        assert with_[key] == without[key], key
    assert without["summary"]["languages"] == ["de", "en", "zh"]
