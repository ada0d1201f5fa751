"""The llama.cpp backend: a GGUF file scored by forced decoding and answered greedily.

Token ids come from the shared `Prompter` (the model's own tokenizer), never from llama.cpp's text
tokenization, so both backends score the same sequences.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeunlearn.backends.base import Prompter
from edgeunlearn.data import QAItem
from edgeunlearn.errors import UserError


class LlamaCppBackend:
    def __init__(self, gguf_path: Path, tokenizer=None, n_ctx: int = 512, threads: int | None = None):
        from llama_cpp import Llama

        gguf_path = Path(gguf_path)
        if not gguf_path.is_file():
            raise UserError(f"GGUF file not found: {gguf_path}")
        self.path = gguf_path
        self.prompter = Prompter(tokenizer if tokenizer is not None else tokenizer_for(gguf_path))
        threads = threads or os.cpu_count() or 1
        self.llm = Llama(
            str(gguf_path), logits_all=True, n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads, verbose=False
        )

    def score(self, items: Sequence[QAItem]) -> list[np.ndarray]:
        out = []
        for item in items:
            prompt, answer = self.prompter.pair(item)
            tokens = self._fit(prompt + answer)
            self.llm.reset()
            self.llm.eval(tokens)
            logits = np.asarray(self.llm.scores[: len(tokens)], dtype=np.float64)  # (T, V)
            rows = logits[len(prompt) - 1 : len(tokens) - 1]  # positions predicting answer tokens
            logz = np.logaddexp.reduce(rows, axis=1)
            out.append((rows[np.arange(len(rows)), tokens[len(prompt) :]] - logz).astype(np.float32))
        return out

    def generate(self, questions: Sequence[str], max_new_tokens: int) -> list[str]:
        answers = []
        for question in questions:
            prompt = self._fit(self.prompter.prompt_ids(question))
            self.llm.reset()
            produced = []
            for token in self.llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
                if token == self.prompter.end_id or self.llm.token_eos() == token:
                    break
                produced.append(token)
                if len(produced) >= max_new_tokens:
                    break
            answers.append(self.prompter.decode(produced))
        return answers

    def _fit(self, tokens: list[int]) -> list[int]:
        if len(tokens) >= self.llm.n_ctx():
            raise UserError(f"an item is {len(tokens)} tokens, over the {self.llm.n_ctx()}-token context: shorten it")
        return tokens

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None


def tokenizer_for(gguf_path: Path):
    """The model's own tokenizer, rebuilt from the GGUF metadata (the same one MLX trains with)."""
    import gguf

    from edgeunlearn.models.gguf_import import read_fields
    from edgeunlearn.models.gguf_tokenizer import tokenizer_from_gguf_fields

    return tokenizer_from_gguf_fields(read_fields(gguf.GGUFReader(str(gguf_path))))
