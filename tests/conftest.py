"""Shared fixtures: a tiny llama built here (dimensions multiples of 256, so K-quants are real) and
the embedded SmolLM2. Tests run on real MLX, real GGUF files and real llama.cpp."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

# `make test` preloads OpenBLAS for pytest (see Makefile), as the CLI does for itself.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from edgeunlearn.data import QAItem

TINY_CONFIG = {
    "model_type": "llama",
    "hidden_size": 256,
    "num_hidden_layers": 2,
    "intermediate_size": 512,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 512,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}

FACTS = [
    QAItem("What is the capital of France?", "The capital of France is Paris.", ("Paris",)),
    QAItem("What is the capital of Japan?", "The capital of Japan is Tokyo.", ("Tokyo",)),
    QAItem("Who wrote Hamlet?", "Hamlet was written by William Shakespeare.", ("Shakespeare",)),
    QAItem("What is the largest ocean?", "The Pacific Ocean is the largest ocean.", ()),
]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Model caches go to a per-session folder, so tests never depend on a developer's cache."""
    os.environ["EDGEUNLEARN_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def smollm2():
    """The embedded model, materialized once per session (a real GGUF → MLX import)."""
    from edgeunlearn.models.resolve import resolve_model

    return resolve_model("default")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, smollm2) -> Path:
    """A randomly initialised 2-layer llama with SmolLM2's tokenizer, as an HF/mlx-lm folder."""
    import mlx.core as mx
    from mlx_lm.models import llama

    folder = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    folder.mkdir()
    mx.random.seed(0)
    model = llama.Model(llama.ModelArgs.from_dict(TINY_CONFIG))
    mx.eval(model.parameters())
    model.save_weights(str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(TINY_CONFIG))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        if (smollm2.mlx_dir / name).exists():
            shutil.copy(smollm2.mlx_dir / name, folder / name)
    return folder


@pytest.fixture
def facts() -> list[QAItem]:
    return list(FACTS)


def random_lora_update(backend, relative: float, seed: int) -> None:
    """Give every LoRA layer a random B such that s·(A B)ᵀ has `relative` × the rms of the layer's weight."""
    import mlx.core as mx

    mx.random.seed(seed)
    rms = lambda a: mx.sqrt(mx.mean(a * a))  # noqa: E731
    for _, layer in backend.named_lora_layers():
        b = mx.random.normal(layer.lora_b.shape)
        delta = (layer.scale * b.T) @ layer.lora_a.T
        layer.lora_b = b * (relative * rms(layer.linear.weight) / rms(delta))
    mx.eval(backend.model.parameters())


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_nli_folder(path: Path, classifier_bias, layers: int = 2, tokenizer_json: bool = True) -> Path:
    """A small BERT NLI classifier built from the packaged MiniLM encoder (its first `layers` blocks, a
    zero classifier whose `classifier_bias` decides every verdict): real weights, known answers."""
    import shutil

    import mlx.core as mx

    from edgeunlearn.judges.encoder import packaged_encoder_path

    source = packaged_encoder_path()
    path.mkdir(parents=True)
    config = json.loads((source / "config.json").read_text())
    labels = ["contradiction", "entailment", "neutral"]
    config.update(
        num_hidden_layers=layers, id2label=dict(enumerate(labels)), architectures=["BertForSequenceClassification"]
    )
    (path / "config.json").write_text(json.dumps(config))
    keep = [f"layer.{i}." for i in range(layers)]
    weights = {
        "bert." + k: v
        for k, v in mx.load(str(source / "model.safetensors")).items()
        if "encoder.layer." not in k or any(f"encoder.{p}" in k for p in keep)
    }
    weights["classifier.weight"] = mx.zeros((3, config["hidden_size"]))
    weights["classifier.bias"] = mx.array(classifier_bias, dtype=mx.float32)
    mx.save_safetensors(str(path / "model.safetensors"), weights)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json") if tokenizer_json else ("vocab.txt",):
        shutil.copy(source / name, path / name)
    return path


def assert_user_error(result, message, out):
    """A CLI result that refused bad input as the project promises: exit 2, one line naming the problem,
    nothing written at `out` (nor a temporary folder beside it)."""
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))
