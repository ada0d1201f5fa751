"""Every architecture, both directions, on tiny random models built with mlx-lm's own classes: llama.cpp's
log-probabilities on an exported F32 GGUF equal MLX's on the same token ids; GGUF → MLX → GGUF keeps the
logits; and a deliberately wrong storage convention (the other q/k row order, a missing norm offset) is caught.

Random weights give near-uniform attention and logits, which hide layout mistakes, so q/k are scaled up
(peaked attention), norm weights are random (an offset shows), and sequences are longer than gemma3's window.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from edgeunlearn.errors import UserError
from edgeunlearn.export import export_gguf
from edgeunlearn.models import architectures
from edgeunlearn.models.architectures import llama
from edgeunlearn.models.gguf_import import materialize

BASE = {
    "hidden_size": 256,
    "num_hidden_layers": 2,
    "intermediate_size": 512,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "max_position_embeddings": 512,
    "vocab_size": 49152,
}
CONFIGS = {
    "llama": {
        **BASE,
        "model_type": "llama",
        "tie_word_embeddings": False,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
    },
    "qwen2": {**BASE, "model_type": "qwen2", "tie_word_embeddings": True, "rope_theta": 1e6},
    "qwen3": {**BASE, "model_type": "qwen3", "head_dim": 32, "tie_word_embeddings": True, "rope_theta": 1e6},
    "gemma3_text": {
        **BASE,
        "model_type": "gemma3_text",
        "num_hidden_layers": 6,  # one global layer among six
        "num_key_value_heads": 1,
        "head_dim": 64,
        "query_pre_attn_scalar": 64,
        "sliding_window": 8,
        "sliding_window_pattern": 6,
        "rope_theta": 1e6,
        "rope_local_base_freq": 10000.0,
    },
    "phi3": {
        **BASE,
        "model_type": "phi3",
        "num_key_value_heads": 4,
        "tie_word_embeddings": False,
        "max_position_embeddings": 256,
        "original_max_position_embeddings": 32,  # llama.cpp uses the long factors once its context exceeds it
        "rope_scaling": {
            "type": "longrope",
            "long_factor": list(np.linspace(1.0, 6.0, 32)),
            "short_factor": list(np.linspace(1.0, 1.5, 32)),
        },
    },
}
SEQ = 48  # longer than gemma3's window (8) and phi3's original context (32)
TOLERANCE = {"gemma3_text": 0.1}  # ggml evaluates GELU through a table; the rest must agree below 0.01
WRONG = {  # each architecture's negative control: the other storage convention
    "llama": dict(to_gguf=architectures.unchanged),
    "gemma3_text": dict(to_gguf=architectures.unchanged),
    "qwen2": dict(to_gguf=llama.ARCH.to_gguf),
    "qwen3": dict(to_gguf=llama.ARCH.to_gguf),
    "phi3": dict(to_gguf=lambda n, w, c: w[::-1].copy() if "qkv_proj" in n else w),
}


def _build(name: str, folder, smollm2):
    """A random mlx-lm model of `name` saved as a model folder with SmolLM2's tokenizer; peaked on purpose."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import _get_classes

    config = CONFIGS[name]
    model_class, args_class = _get_classes(config)
    mx.random.seed(1)
    model = model_class(args_class.from_dict(config))
    weights = {}
    for key, w in tree_flatten(model.parameters()):
        if key == "model.norm.weight":  # sharp next-token distributions
            w = mx.random.uniform(6.0, 10.0, w.shape)
        elif key.endswith("norm.weight"):
            w = mx.random.uniform(0.5, 1.5, w.shape)
        elif any(p in key for p in ("q_proj.weight", "k_proj.weight", "qkv_proj.weight")):
            w = w * 4.0
        elif key.endswith(".bias"):
            w = mx.random.normal(w.shape) * 0.5
        weights[key] = w
    folder.mkdir(parents=True)
    mx.save_safetensors(str(folder / "model.safetensors"), weights)
    (folder / "config.json").write_text(json.dumps(config))
    for file in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (smollm2.mlx_dir / file).exists():
            shutil.copy(smollm2.mlx_dir / file, folder / file)
    return folder


def _tokens() -> list[int]:
    return np.random.default_rng(0).integers(100, 40000, SEQ).tolist()


def _mlx_logprobs(folder) -> np.ndarray:
    import mlx.core as mx
    from mlx_lm import load

    model, _ = load(str(folder))
    logits = model(mx.array([_tokens()]))[0].astype(mx.float32)
    return np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True))


def _llamacpp_logprobs(gguf_path) -> np.ndarray:
    from llama_cpp import Llama

    # an F32 KV cache: the default F16 one alone moves peaked log-probs by a few hundredths
    llm = Llama(str(gguf_path), n_ctx=128, logits_all=True, n_threads=2, verbose=False, type_k=0, type_v=0)
    try:
        llm.eval(_tokens())
        logits = np.array(llm.scores[:SEQ], dtype=np.float64)
    finally:
        llm.close()
    return (
        logits
        - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True))
        - logits.max(-1, keepdims=True)
    )


def _weights(folder) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return {k: v.astype(np.float32) for k, v in load_file(str(folder / "model.safetensors")).items()}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def exported(request, smollm2, tmp_path_factory):
    folder = _build(request.param, tmp_path_factory.mktemp(request.param) / "model", smollm2)
    gguf_path = export_gguf(_weights(folder), folder, folder.parent / "model-F32.gguf", None, dtype="F32")
    return request.param, folder, gguf_path


def test_llama_cpp_agrees_with_mlx_on_the_same_tokens(exported):
    name, folder, gguf_path = exported
    mlx, cpp = _mlx_logprobs(folder), _llamacpp_logprobs(gguf_path)
    assert mlx.max(-1).mean() > -2.5, "the model is not peaked: parity would prove little"
    worst = float(np.abs(mlx - cpp).max())
    assert worst < TOLERANCE.get(name, 0.01), f"{name}: max |Δ log p| {worst:.4f}"


def test_gguf_to_mlx_to_gguf_keeps_the_logits(exported, tmp_path):
    name, folder, gguf_path = exported
    materialize(gguf_path, tmp_path / "back")
    back_config = json.loads((tmp_path / "back" / "config.json").read_text())
    assert back_config["model_type"] == name
    assert np.abs(_mlx_logprobs(tmp_path / "back") - _mlx_logprobs(folder)).max() < 1e-3
    again = export_gguf(_weights(tmp_path / "back"), tmp_path / "back", tmp_path / "again.gguf", None, dtype="F32")
    assert np.abs(_llamacpp_logprobs(again) - _llamacpp_logprobs(gguf_path)).max() < 1e-3


def test_a_wrong_storage_convention_is_caught(exported, tmp_path, monkeypatch):
    name, folder, _ = exported
    arch = architectures.for_model_type(name)
    monkeypatch.setitem(architectures._BY_MODEL_TYPE, name, dataclasses.replace(arch, **WRONG[name]))
    wrong = export_gguf(_weights(folder), folder, tmp_path / "wrong.gguf", None, dtype="F32")
    worst = float(np.abs(_mlx_logprobs(folder) - _llamacpp_logprobs(wrong)).max())
    assert worst > 10 * TOLERANCE.get(name, 0.01), f"{name}: the wrong layout went unseen ({worst:.4f})"


def _mlx_llama3_divisors(config: dict) -> np.ndarray:
    """The reference: mlx-lm's own Llama3RoPE periods divided by plain rope's."""
    import mlx.core as mx
    from mlx_lm.models.rope_utils import Llama3RoPE

    dims, base = config["head_dim"], config["rope_theta"]
    rope = Llama3RoPE(dims, base=base, scaling_config=config["rope_scaling"])
    return np.array(rope._freqs) / np.array(base ** (mx.arange(0, dims, 2) / dims))


@pytest.mark.parametrize("dims", [64, 4])  # 4: no frequency falls inside the blended band
def test_llama3_rope_scaling_is_written_as_mlx_lm_computes_it_and_recovered(dims):
    config = CONFIGS["llama"] | {"head_dim": dims}
    expected = _mlx_llama3_divisors(config)
    assert np.allclose(llama.llama3_rope_divisors(config), expected, rtol=1e-5)
    fields = {"llama.rope.freq_base": 10000.0, "llama.rope.scaling.original_context_length": 64}
    scaling = llama.ARCH.config(fields, {llama.ROPE_FREQS: expected.astype(np.float32)})["rope_scaling"]
    assert scaling["factor"] == pytest.approx(8.0)
    assert np.allclose(_mlx_llama3_divisors(config | {"rope_scaling": scaling}), expected, rtol=1e-4)
    # by hand: wavelength 2π·10000^(2i/dims); i=0 → 2π < 64/4 = 16 → kept (1); the last one is > 64 → slowed (8)
    assert expected[0] == pytest.approx(1.0) and expected[-1] == pytest.approx(8.0)


def test_unknown_architectures_and_lora_keys_are_refused():
    with pytest.raises(UserError, match="'mamba' is not supported: supported are gemma3_text, llama, mistral"):
        architectures.for_model_type("mamba")
    phi3 = architectures.for_model_type("phi3")
    assert architectures.lora_keys(phi3, ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"]) == (
        "self_attn.qkv_proj",
        "mlp.down_proj",
    )
    with pytest.raises(UserError, match="do not exist in phi3 models: choose from self_attn.qkv_proj"):
        architectures.lora_keys(phi3, ["self_attn.rotary"])


def test_completion_prompts_for_a_base_model_use_the_item_prompt_and_the_start_token(smollm2, tmp_path):
    """A SentencePiece GGUF vocabulary (Gemma's kind, built from GGUF fields) tokenizes like llama.cpp, and a
    model without a chat template gets completion prompts: the item's `prompt`, BOS first, the answer after a
    space; `chat` is refused for it."""
    from llama_cpp import Llama

    from edgeunlearn.backends.base import Prompter
    from edgeunlearn.data import QAItem
    from edgeunlearn.models.resolve import gemma3_270m_path

    path = gemma3_270m_path()
    llm = Llama(str(path), vocab_only=True, verbose=False)
    materialized = _gemma_tokenizer(path)
    prompter = Prompter(materialized)
    item = QAItem(
        "What is Brazil's official language?", "Portuguese.", ("Portuguese",), {"prompt": "In Brazil, people speak"}
    )
    prompt, answer = prompter.pair(item)
    assert prompter.format == "completion"
    assert prompt == llm.tokenize(b"In Brazil, people speak", add_bos=True, special=False)
    assert prompt[0] == materialized.bos_token_id
    assert answer[:-1] == llm.tokenize(b" Portuguese.", add_bos=False, special=False)
    text = "  Spaces, digits 12345, accents éà, 日本語\n\nnew lines"
    assert materialized.encode(text) == llm.tokenize(text.encode(), add_bos=True, special=False)
    plain = Prompter(materialized).prompt_ids("Who?")
    assert plain == llm.tokenize(b"Question: Who?\nAnswer:", add_bos=True, special=False)
    with pytest.raises(UserError, match="needs a chat template"):
        Prompter(materialized, "chat")


def _gemma_tokenizer(path):
    import gguf

    from edgeunlearn.models.gguf_import import read_fields
    from edgeunlearn.models.gguf_tokenizer import tokenizer_from_gguf_fields

    return tokenizer_from_gguf_fields(read_fields(gguf.GGUFReader(str(path))))
