"""Tokenizers between GGUF metadata and HF `tokenizer.json`, in both directions.

Import builds a `tokenizers` tokenizer from `tokenizer.ggml.*` so MLX trains on exactly the token ids llama.cpp
will see: GPT-2-style byte-level BPE ("gpt2") here, SentencePiece ("llama": Gemma, Phi-3) through transformers'
own GGUF converter. Export writes the keys back from a BPE `tokenizer.json`. A pre-tokenizer we do not know is
refused, not guessed.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgeunlearn.errors import UserError

# llama.cpp token types
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _pre_tokenizer(pre: str):
    from tokenizers import Regex, pre_tokenizers

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in ("default", "gpt-2", "gpt2", ""):
        return byte_level
    if pre in ("smollm", "starcoder", "refact"):
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    if pre in ("llama-bpe", "llama3", "smaug-bpe"):
        split = pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated")
        no_regex = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        return pre_tokenizers.Sequence([split, no_regex])
    raise UserError(f"GGUF pre-tokenizer {pre!r} is not supported: use a model folder with tokenizer.json instead")


def tokenizer_from_gguf_fields(fields: dict):
    """Build a transformers fast tokenizer from GGUF key/values (`fields`: key -> python value)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models

    kind = fields.get("tokenizer.ggml.model")
    if kind == "llama":
        return _sentencepiece_from_gguf_fields(fields)
    if kind != "gpt2":
        raise UserError(f"GGUF tokenizer model {kind!r} is not supported: BPE ('gpt2') and SentencePiece ('llama') are")
    tokens = fields["tokenizer.ggml.tokens"]
    merges = [tuple(m.split(" ", 1)) for m in fields["tokenizer.ggml.merges"]]
    bpe = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    bpe.pre_tokenizer = _pre_tokenizer(fields.get("tokenizer.ggml.pre", "default"))
    bpe.decoder = decoders.ByteLevel()
    types = fields.get("tokenizer.ggml.token_type", [NORMAL] * len(tokens))
    special = [t for t, k in zip(tokens, types) if k in (CONTROL, USER_DEFINED)]
    bpe.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    return _fast_tokenizer(bpe, fields)


def _fast_tokenizer(backend, fields: dict, **extra):
    """A transformers fast tokenizer around `backend` with the file's special tokens and chat template."""
    from transformers import PreTrainedTokenizerFast

    tokens = fields["tokenizer.ggml.tokens"]

    def token(key):
        idx = fields.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[idx] if idx is not None and idx < len(tokens) else None

    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=token("bos"),
        eos_token=token("eos"),
        unk_token=token("unknown"),
        pad_token=token("padding") or token("eos"),
        chat_template=fields.get("tokenizer.chat_template"),
        clean_up_tokenization_spaces=False,
        **extra,
    )


def _sentencepiece_from_gguf_fields(fields: dict):
    """A SentencePiece vocabulary (Gemma, Llama-2, Phi-3) through transformers' own GGUF converter, which knows
    each family's normalizer and byte fallback."""
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_MAPPING, convert_gguf_tokenizer

    renames = GGUF_TOKENIZER_MAPPING["tokenizer"]
    spec = {name: fields[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in fields}
    backend, _ = convert_gguf_tokenizer(fields["general.architecture"], spec)
    return _fast_tokenizer(backend, fields, add_bos_token=bool(fields.get("tokenizer.ggml.add_bos_token", True)))


def gguf_tokenizer_fields(model_dir: Path, vocab_rows: int) -> dict:
    """GGUF tokenizer key/values for an HF folder's tokenizer, padded to `vocab_rows` tokens."""
    from transformers import AutoTokenizer

    spec = json.loads((model_dir / "tokenizer.json").read_text())
    if spec.get("model", {}).get("type") != "BPE":
        raise UserError("export supports BPE tokenizers only: this model's tokenizer.json is not BPE")
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    vocab = spec["model"]["vocab"]
    by_id = {i: t for t, i in vocab.items()}
    added = {a["id"]: a for a in spec.get("added_tokens", [])}
    by_id.update({i: a["content"] for i, a in added.items()})
    tokens, types = [], []
    for i in range(vocab_rows):
        tokens.append(by_id.get(i, f"[PAD{i}]"))
        kind = CONTROL if added.get(i, {}).get("special") else USER_DEFINED if i in added else NORMAL
        types.append(kind if i in by_id else UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"].get("merges", [])]
    fields = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": _pre_name(spec.get("pre_tokenizer")),
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.merges": merges,
    }
    for key, value in (("bos", tok.bos_token_id), ("eos", tok.eos_token_id), ("padding", tok.pad_token_id)):
        if value is not None:
            fields[f"tokenizer.ggml.{key}_token_id"] = int(value)
    if getattr(tok, "chat_template", None):
        fields["tokenizer.chat_template"] = tok.chat_template
    return fields


def _pre_name(pre_tokenizer: dict | None) -> str:
    """The llama.cpp pre-tokenizer name matching an HF pre_tokenizer spec."""
    text = json.dumps(pre_tokenizer or {})
    if '"Digits"' in text and '"individual_digits": true' in text:
        return "smollm"
    if "\\\\p{N}{1,3}" in text:
        return "llama-bpe"
    if '"ByteLevel"' in text:
        return "gpt-2"
    raise UserError("export supports byte-level BPE pre-tokenizers only (GPT-2, SmolLM, Llama 3 style)")
