#!/usr/bin/env bash
# The main job: zero-shot multilingual-e5-small (bundled) and BM25 on XQuAD-R, then Table 1.
# Needs no data setting: XQuAD-R ships with babelir (src/babelir/data/bundled/, CC BY-SA 4.0).
# A data setting (BABELIR_DATA=<folder holding lareqa/xquad-r/*.json>) is used instead when set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
babelir eval --model multilingual-e5-small --benchmark xquad-r --out runs/me5-zeroshot
babelir eval --model bm25 --benchmark xquad-r --out runs/bm25
babelir table runs/me5-zeroshot runs/bm25
