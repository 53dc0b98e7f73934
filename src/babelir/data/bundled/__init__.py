"""Benchmark files that ship inside babelir (package data), read when there is no data setting.

Only XQuAD-R is bundled (CC BY-SA 4.0, google-research-datasets/lareqa at the pinned commit
``registry.LAREQA_XQUAD_COMMIT``): its 11 language files, each xz-compressed and otherwise
byte-identical to upstream, with the licence (``LICENSE``), an attribution note
(``ATTRIBUTION.md``) and a manifest (``MANIFEST.json``: the SHA-256 and size of every original
JSON file). MLQA-R (CC BY-NC, withdrawn upstream), MIRACL and the training sources are never
bundled.

Every read decompresses the bundled file and checks the SHA-256 of the result against the
manifest and the registry (``registry.BENCHMARKS[...].sha256``); a mismatch is a ``DataError``
naming the file. The checked JSON is then kept as a plain file in the cache
(``<cache>/bundled/<benchmark>/<lang>.json``, rewritten whenever it differs), so that every
reader of a benchmark file gets a path, wherever it came from.

``write_bundle`` rebuilds the bundle from a data folder (``python -m babelir.data.bundled``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from babelir.errors import BabelirError, DataError
from babelir.io import atomic_path, sha256_of

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

MANIFEST = "MANIFEST.json"
LICENSE = "LICENSE"
ATTRIBUTION = "ATTRIBUTION.md"
SUFFIX = ".xz"
#: benchmark name -> folder inside this package
BUNDLED = {"xquad-r": "xquad-r"}
#: where the bundle folders are; ``None`` = this package (tests point it at a copy)
ROOT: Traversable | Path | None = None
DAMAGED = ("the babelir installation is damaged: reinstall it, or set --data-dir / $BABELIR_DATA "
           "to a data folder")


def has_bundle(name: str) -> bool:
    """Whether benchmark ``name`` ships with babelir."""
    return name in BUNDLED


def bundle_dir(name: str) -> Traversable | Path:
    """The folder holding benchmark ``name``'s bundled files."""
    if not has_bundle(name):
        raise BabelirError(f"benchmark {name!r} is not bundled; bundled: {', '.join(BUNDLED)}")
    root = ROOT if ROOT is not None else resources.files(__name__)
    return root.joinpath(BUNDLED[name])


def manifest(name: str) -> dict:
    """The bundle's manifest (source, commit, licence, and per original file its SHA-256)."""
    path = bundle_dir(name).joinpath(MANIFEST)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"bundled manifest not found; {DAMAGED}", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"malformed bundled manifest ({exc}); {DAMAGED}", path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise DataError(f"bundled manifest has no 'files' mapping; {DAMAGED}", path=path)
    return data


def _expected_sha256(spec, lang: str, entries: dict, where: object) -> str:
    """The manifest's SHA-256 of ``<lang>.json``, which must equal the registry's."""
    entry = entries.get(f"{lang}.json")
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise DataError(f"the bundled manifest has no SHA-256 for {lang}.json; {DAMAGED}",
                        path=where)
    expected = entry["sha256"]
    pinned = spec.sha256.get(lang)
    if pinned and pinned != expected:
        raise DataError(f"the bundled manifest's SHA-256 of {lang}.json ({expected}) differs "
                        f"from the registry's ({pinned}); {DAMAGED}", path=where)
    return expected


def _lzma():
    try:
        import lzma
    except ImportError:  # a Python built without liblzma
        raise BabelirError("this Python has no lzma module, needed to read the bundled (xz) "
                           "benchmark files: set --data-dir / $BABELIR_DATA to a data folder, "
                           "or use a Python built with liblzma") from None
    return lzma


def read_bundled(spec, lang: str) -> bytes:
    """The original bytes of ``spec``'s ``<lang>.json``, decompressed and checked."""
    lzma = _lzma()
    folder = bundle_dir(spec.name)
    expected = _expected_sha256(spec, lang, manifest(spec.name)["files"],
                                folder.joinpath(MANIFEST))
    path = folder.joinpath(f"{lang}.json{SUFFIX}")
    try:
        packed = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"bundled file not found; {DAMAGED}", path=path) from None
    try:
        data = lzma.decompress(packed)
    except lzma.LZMAError as exc:
        raise DataError(f"bundled file is not valid xz ({exc}); {DAMAGED}", path=path) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DataError(f"checksum mismatch: the bundled file decompresses to SHA-256 {actual}, "
                        f"expected {expected}; {DAMAGED}", path=path)
    return data


def bundled_file(spec, lang: str, cache_dir: Path) -> Path:
    """A plain-file copy of the checked ``<lang>.json`` of ``spec``'s bundle in the cache."""
    data = read_bundled(spec, lang)
    target = Path(cache_dir) / "bundled" / BUNDLED[spec.name] / f"{lang}.json"
    expected = hashlib.sha256(data).hexdigest()
    try:
        if not target.is_file() or sha256_of(target) != expected:
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
    except OSError as exc:
        raise BabelirError(f"cannot write the bundled {spec.name} file for {lang!r} into the "
                           f"cache {target.parent} ({exc}); set --cache-dir / $BABELIR_CACHE "
                           "to a writable folder") from exc
    return target


def write_bundle(spec, source_dir: Path, out_dir: Path, *, source: str, commit: str) -> dict:
    """Build ``spec``'s bundle in ``out_dir`` from the data folder files in ``source_dir``
    (``<lang>.json`` and ``LICENSE``): each file xz-compressed, the licence copied, and the
    manifest written. The files must match the registry's SHA-256. Returns the manifest."""
    lzma = _lzma()
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for lang in spec.languages:
        original = source_dir / f"{lang}.json"
        data = original.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if spec.sha256.get(lang) and digest != spec.sha256[lang]:
            raise DataError(f"SHA-256 {digest} differs from the registry's {spec.sha256[lang]}",
                            path=original)
        packed = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                               preset=9 | lzma.PRESET_EXTREME)
        (out_dir / f"{lang}.json{SUFFIX}").write_bytes(packed)
        files[f"{lang}.json"] = {"sha256": digest, "bytes": len(data),
                                 "stored_as": f"{lang}.json{SUFFIX}",
                                 "stored_sha256": hashlib.sha256(packed).hexdigest()}
    shutil.copyfile(source_dir / LICENSE, out_dir / LICENSE)
    record = {
        "benchmark": spec.name,
        "source": source,
        "commit": commit,
        "upstream_paths": f"{spec.name}/<lang>.json",
        "licence": spec.licence,
        "licence_file": LICENSE,
        "licence_sha256": sha256_of(out_dir / LICENSE),
        "changes": "none: each file is the upstream file, xz-compressed",
        "compression": "xz (lzma preset 9e, CRC64)",
        "files": files,
    }
    (out_dir / MANIFEST).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record
