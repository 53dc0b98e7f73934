#!/usr/bin/env bash
# The main job: zero-shot multilingual-e5-small (bundled) and BM25 on XQuAD-R, then Table 1.
# Needs the data setting: BABELIR_DATA=<folder holding lareqa/xquad-r/*.json>.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
: "${BABELIR_DATA:?set BABELIR_DATA to the data folder (e.g. ../shared/data)}"
babelir eval --model multilingual-e5-small --benchmark xquad-r --out runs/me5-zeroshot
babelir eval --model bm25 --benchmark xquad-r --out runs/bm25
babelir table runs/me5-zeroshot runs/bm25
