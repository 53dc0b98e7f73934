#!/usr/bin/env bash
# The no-data-setting path (CI): with BABELIR_DATA unset, XQuAD-R comes from the copy bundled
# with babelir. BM25 on the full benchmark must give the kept numbers
# (results/xquad-r-zeroshot/bm25/summary.json), and the bundled dense model on a small subset
# the same numbers as with the data setting (when BABELIR_DATA is set here; else only a run).
# Run after scripts/install.sh. Outputs go to a temporary folder, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
data="${BABELIR_DATA:-}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

compare() {  # compare <kept summary.json> <new summary.json>: equal counts, metrics to 1e-9
  python - "$1" "$2" <<'PY'
import json, math, sys
kept, new = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:3])
bad = [k for k, v in kept.items()
       if not (k in new and (math.isclose(v, new[k], rel_tol=0, abs_tol=1e-9)
                             if isinstance(v, float) else v == new[k]))]
if bad:
    sys.exit(f"differs from {sys.argv[1]}: " + ", ".join(f"{k}: {kept[k]!r} vs {new.get(k)!r}"
                                                         for k in bad))
print(f"same numbers as {sys.argv[1]} ({len(kept)} fields)")
PY
}

subset=(--benchmark xquad-r --languages en,de,zh --max-articles 2 --no-embedding-cache)
env -u BABELIR_DATA babelir eval --model bm25 --benchmark xquad-r --out "$out/bm25" >/dev/null
compare results/xquad-r-zeroshot/bm25/summary.json "$out/bm25/summary.json"
env -u BABELIR_DATA babelir eval --model multilingual-e5-small "${subset[@]}" \
  --out "$out/me5-bundled" >/dev/null
if [ -n "$data" ]; then
  babelir eval --model multilingual-e5-small "${subset[@]}" --data-dir "$data" \
    --out "$out/me5-data" >/dev/null
  compare "$out/me5-data/summary.json" "$out/me5-bundled/summary.json"
fi
echo "no-data-setting path: OK"
