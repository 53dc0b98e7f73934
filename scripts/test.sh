#!/usr/bin/env bash
# The test suite. Tests that need the real data fail (never skip) when BABELIR_DATA is unset.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/install_apertium.sh   # Debian's Apertium + en→es/ca/gl: the translation tests use it
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m pytest -q "$@"
