"""A tokenizer backed by llama.cpp's own vocabulary, for GGUFs whose tokenizer we cannot rebuild in
`tokenizers` (SentencePiece models, unknown pre-tokenizers). It serves the check (llama.cpp only); a
model trained in MLX always uses the rebuilt tokenizer, so both backends see the same ids."""

from __future__ import annotations

from pathlib import Path


class LlamaCppTokenizer:
    """The small part of the transformers tokenizer interface that `Prompter` uses."""

    def __init__(self, gguf_path: Path):
        from llama_cpp import Llama

        from edgeunlearn.quantize.llamacpp import quiet_stderr

        with quiet_stderr():
            self._vocab = Llama(str(gguf_path), vocab_only=True, verbose=False)
        meta = self._vocab.metadata
        self.chat_template = meta.get("tokenizer.chat_template")
        self.eos_token_id = self._vocab.token_eos()
        self.bos_token = self._piece(self._vocab.token_bos())
        self.eos_token = self._piece(self.eos_token_id)

    def _piece(self, token: int) -> str:
        return self._vocab.detokenize([token], special=True).decode("utf-8", errors="replace") if token >= 0 else ""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self._vocab.tokenize(text.encode("utf-8"), add_bos=add_special_tokens, special=True)

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return self._vocab.detokenize(list(ids), special=not skip_special_tokens).decode("utf-8", errors="replace")

    def apply_chat_template(self, messages, add_generation_prompt: bool = True, tokenize: bool = False) -> str:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            raise ValueError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(self.chat_template).render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )
