"""Qwen3: Qwen2 without the q/k/v biases, with an RMSNorm over each head of q and of k (`attn_q_norm`,
`attn_k_norm`) and a head size of its own (`head_dim`, written as key/value length); NeoX rotation, no row
permutation."""

from edgeunlearn.models.architectures import Architecture, register
from edgeunlearn.models.architectures.llama import PROJECTIONS

ARCH = register(Architecture(name="qwen3", gguf_arch="qwen3", projections=PROJECTIONS))
