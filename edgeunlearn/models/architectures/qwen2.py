"""Qwen2 / Qwen2.5: llama's block with biases on q, k and v; llama.cpp rotates halves (NeoX style) like HF, so
no rows are permuted, and the biases are ordinary tensors under the gguf package's names."""

from edgeunlearn.models.architectures import Architecture, register
from edgeunlearn.models.architectures.llama import PROJECTIONS

ARCH = register(Architecture(name="qwen2", gguf_arch="qwen2", projections=PROJECTIONS))
