"""The llama tensor layout shared by GGUF import and export: names and the q/k row permutation.

llama.cpp stores the q and k projections with rows regrouped per head (its rotary embedding pairs
adjacent rows), while HF / mlx-lm pair the two halves of each head. Import undoes it, export redoes it.
"""

from __future__ import annotations

SUPPORTED_ARCHITECTURES = ("llama", "mistral")

PROJECTIONS = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)
_LAYER_TENSORS = ("input_layernorm", "post_attention_layernorm", *PROJECTIONS)


def hf_tensor_names(n_layers: int, tied: bool) -> list[str]:
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    if not tied:
        names.append("lm_head.weight")
    for i in range(n_layers):
        names += [f"model.layers.{i}.{t}.weight" for t in _LAYER_TENSORS]
    return names


def gguf_name_map(n_layers: int) -> dict[str, str]:
    """HF tensor name -> llama.cpp tensor name, from the gguf package's own table."""
    import gguf

    table = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
    mapping = {}
    for name in hf_tensor_names(n_layers, tied=False):
        mapped = table.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise KeyError(f"gguf has no llama tensor name for {name}")
        mapping[name] = mapped
    return mapping


def to_llamacpp_rows(w, n_head: int):
    """HF q/k layout -> llama.cpp layout. w: numpy (n_head * head_dim, hidden)."""
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, 2, half, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def from_llamacpp_rows(w, n_head: int):
    """llama.cpp q/k layout -> HF layout; the inverse of `to_llamacpp_rows`."""
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permuted_heads(hf_name: str, config: dict) -> int | None:
    """How many heads a tensor's rows are permuted over, or None when it is not q/k."""
    if hf_name.endswith("self_attn.q_proj.weight"):
        return config["num_attention_heads"]
    if hf_name.endswith("self_attn.k_proj.weight"):
        return config.get("num_key_value_heads", config["num_attention_heads"])
    return None
