"""Inference/training backends. Every backend scores and generates through the same interface
(`Backend`), so each check runs on every variant: MLX in memory, and GGUF files under llama.cpp."""

from edgeunlearn.backends.base import Backend, Prompter

__all__ = ["Backend", "Prompter"]
