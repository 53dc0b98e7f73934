"""Rebuild the XQuAD-R bundle from a data folder:
``python -m babelir.data.bundled <data folder> [<out folder>]`` (default out: this package's
``xquad-r/``). Writes the xz files, ``LICENSE`` and ``MANIFEST.json``; ``ATTRIBUTION.md`` is
kept by hand."""

from __future__ import annotations

import sys
from pathlib import Path

from babelir.data.bundled import BUNDLED, write_bundle
from babelir.data.registry import LAREQA_XQUAD_COMMIT, get_benchmark


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = get_benchmark("xquad-r")
    out = Path(argv[1]) if len(argv) == 2 else Path(__file__).parent / BUNDLED[spec.name]
    record = write_bundle(spec, Path(argv[0]) / spec.relative_dir, out,
                          source="https://github.com/google-research-datasets/lareqa",
                          commit=LAREQA_XQUAD_COMMIT)
    packed = sum((out / f["stored_as"]).stat().st_size for f in record["files"].values())
    print(f"wrote {len(record['files'])} files to {out} ({packed:,} bytes compressed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
