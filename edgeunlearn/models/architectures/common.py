"""What every architecture shares: tensor names from the `gguf` package's maps, the shared metadata keys and
the shared config fields."""

from __future__ import annotations

import numpy as np

from edgeunlearn.models.architectures import Architecture


def mlx_parameter_names(config: dict) -> list[str]:
    """The parameter names of mlx-lm's model class for `config` (a skeleton: MLX allocates nothing until used)."""
    from mlx.utils import tree_flatten
    from mlx_lm.utils import _get_classes

    model_class, args_class = _get_classes(config)
    return [name for name, _ in tree_flatten(model_class(args_class.from_dict(config)).parameters())]


def gguf_name_map(arch: Architecture, config: dict, hf_names) -> dict[str, str]:
    """HF / mlx-lm tensor name → llama.cpp tensor name, from the gguf package's table for the architecture."""
    import gguf

    table = gguf.get_tensor_name_map(gguf_arch_enum(arch), config["num_hidden_layers"])
    mapping = {}
    for name in hf_names:
        mapped = table.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise KeyError(f"gguf has no {arch.gguf_arch} tensor name for {name}")
        mapping[name] = mapped
    return mapping


def hf_names_by_gguf(arch: Architecture, config: dict) -> dict[str, str]:
    """llama.cpp tensor name → the name mlx-lm's model class gives it: what reading a GGUF needs."""
    return {g: h for h, g in gguf_name_map(arch, config, mlx_parameter_names(config)).items()}


def gguf_arch_enum(arch: Architecture):
    import gguf

    return next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch.gguf_arch)


def key(arch: Architecture, template: str) -> str:
    return template.format(arch=arch.gguf_arch)


def head_dim(config: dict) -> int:
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def shared_metadata(arch: Architecture, config: dict, embed_rows: int) -> dict[str, object]:
    """The keys llama.cpp reads for every architecture we write, from an HF config."""
    import gguf

    llm, att, rope = gguf.Keys.LLM, gguf.Keys.Attention, gguf.Keys.Rope
    heads = config["num_attention_heads"]
    values = {
        llm.CONTEXT_LENGTH: int(config.get("max_position_embeddings", 2048)),
        llm.EMBEDDING_LENGTH: int(config["hidden_size"]),
        llm.BLOCK_COUNT: int(config["num_hidden_layers"]),
        llm.FEED_FORWARD_LENGTH: int(config["intermediate_size"]),
        att.HEAD_COUNT: int(heads),
        att.HEAD_COUNT_KV: int(config.get("num_key_value_heads") or heads),
        att.KEY_LENGTH: int(head_dim(config)),
        att.VALUE_LENGTH: int(head_dim(config)),
        att.LAYERNORM_RMS_EPS: float(config.get("rms_norm_eps", 1e-5)),
        rope.DIMENSION_COUNT: int(head_dim(config)),
        rope.FREQ_BASE: float(config.get("rope_theta", 10000.0)),
        llm.VOCAB_SIZE: int(embed_rows),
    }
    return {key(arch, k): v for k, v in values.items()}


def shared_config(arch: Architecture, fields: dict, embed_rows: int) -> dict:
    """An HF config's shared fields from GGUF key/values (llama.cpp's defaults where a key is absent)."""
    import gguf

    llm, att, rope = gguf.Keys.LLM, gguf.Keys.Attention, gguf.Keys.Rope

    def get(template, default=None):
        return fields.get(key(arch, template), default)

    heads = int(get(att.HEAD_COUNT))
    hidden = int(get(llm.EMBEDDING_LENGTH))
    return {
        "model_type": arch.name,
        "hidden_size": hidden,
        "num_hidden_layers": int(get(llm.BLOCK_COUNT)),
        "intermediate_size": int(get(llm.FEED_FORWARD_LENGTH)),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get(att.HEAD_COUNT_KV, heads)),
        "head_dim": int(get(att.KEY_LENGTH) or get(rope.DIMENSION_COUNT) or hidden // heads),
        "rms_norm_eps": float(get(att.LAYERNORM_RMS_EPS, 1e-5)),
        "rope_theta": float(get(rope.FREQ_BASE, 10000.0)),
        "max_position_embeddings": int(get(llm.CONTEXT_LENGTH, 2048)),
        "vocab_size": int(embed_rows),
    }


def value_type(value):
    """(GGUF value type, array item type) for a python value."""
    import gguf

    T = gguf.GGUFValueType

    def scalar(v):
        if isinstance(v, bool | np.bool_):
            return T.BOOL
        if isinstance(v, int | np.integer):
            return T.INT32 if v < 0 else T.UINT32
        if isinstance(v, float | np.floating):
            return T.FLOAT32
        return T.STRING

    if isinstance(value, list | tuple):  # llama.cpp reads integer arrays (token types) as int32 only
        item = scalar(value[0]) if value else T.INT32
        return T.ARRAY, T.INT32 if item == T.UINT32 else item
    return scalar(value), None
