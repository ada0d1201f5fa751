"""The backend interface and the one place questions and answers become token ids.

Both backends take token ids from the same `Prompter`, so MLX and llama.cpp score identical sequences
(letting llama.cpp tokenize text could merge tokens across the prompt/answer boundary differently).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from edgeunlearn.data import QAItem

FALLBACK_TEMPLATE = "Question: {question}\nAnswer:"


class Prompter:
    """Chat-template prompts and answer token ids for one tokenizer."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        self.end_id = tokenizer.eos_token_id

    def prompt_ids(self, question: str) -> list[int]:
        if self.has_chat_template:
            messages = [{"role": "user", "content": question}]
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return self.tokenizer.encode(text, add_special_tokens=False)
        return self.tokenizer.encode(FALLBACK_TEMPLATE.format(question=question), add_special_tokens=False)

    def answer_ids(self, answer: str) -> list[int]:
        """The answer's tokens plus the end-of-turn token the model should emit after it."""
        text = answer if self.has_chat_template else " " + answer
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return ids + ([self.end_id] if self.end_id is not None else [])

    def pair(self, item: QAItem) -> tuple[list[int], list[int]]:
        return self.prompt_ids(item.question), self.answer_ids(item.answer)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i != self.end_id], skip_special_tokens=True).strip()


class Backend(Protocol):
    """What every check needs from a model, whatever runs it."""

    prompter: Prompter

    def score(self, items: Sequence[QAItem]) -> list[np.ndarray]:
        """Per-token log-probs of each item's answer tokens given its question. Each: (answer_len,)."""
        ...

    def generate(self, questions: Sequence[str], max_new_tokens: int) -> list[str]:
        """Greedy answers to each question."""
        ...

    def close(self) -> None: ...
