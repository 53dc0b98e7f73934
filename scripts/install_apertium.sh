#!/usr/bin/env bash
# Install Apertium and the en→es / en→ca / en→gl pairs that `babelir translate --engine
# apertium` uses (Debian/Ubuntu). Idempotent: exits 0 at once when everything is installed.
# Extra pairs: APERTIUM_PAIRS="apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-xxx-yyy".
set -euo pipefail

PACKAGES=(apertium ${APERTIUM_PAIRS:-apertium-eng-spa apertium-eng-cat apertium-en-gl})

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ] && command -v apertium >/dev/null; then
    echo "apertium: already installed ($(apertium -l | tr -s ' \n' ' '))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
        echo "install_apertium.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "apertium: installed ${missing[*]}; directions: $(apertium -l | tr -s ' \n' ' ')"
