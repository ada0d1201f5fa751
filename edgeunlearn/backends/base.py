"""The backend interface and the one place questions and answers become token ids.

Both backends take token ids from the same `Prompter`, so MLX and llama.cpp score identical sequences
(letting llama.cpp tokenize text could merge tokens across the prompt/answer boundary differently).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgeunlearn.data import QAItem
from edgeunlearn.errors import UserError

FALLBACK_TEMPLATE = "Question: {question}\nAnswer:"
PROMPT_FORMATS = ("auto", "chat", "completion")


def check_prompt_format(prompt_format: str) -> None:
    if prompt_format not in PROMPT_FORMATS:
        raise UserError(f"unknown prompt format {prompt_format!r}: choose one of {', '.join(PROMPT_FORMATS)}")


class Prompter:
    """Prompts and answer token ids for one tokenizer, in one of two formats:

    - chat: the model's chat template around the question (instruction-tuned models have one);
    - completion: plain text for base models, which a chat turn means little to — an item's own `prompt`
      field when it has one ("The official language of Brazil is" → " Portuguese."), else "Question: …\nAnswer:".
      The tokenizer adds its own start token (Gemma needs its BOS), as llama.cpp does.

    `auto` picks chat when the tokenizer has a template."""

    def __init__(self, tokenizer, prompt_format: str = "auto"):
        check_prompt_format(prompt_format)
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if prompt_format == "chat" and not has_template:
            raise UserError("--prompt-format chat needs a chat template and this model has none: use completion")
        self.tokenizer = tokenizer
        self.chat = prompt_format == "chat" or (prompt_format == "auto" and has_template)
        self.end_id = tokenizer.eos_token_id

    @property
    def format(self) -> str:
        return "chat" if self.chat else "completion"

    def prompt_ids(self, query: str | QAItem) -> list[int]:
        """Prompt tokens for a question, or for an item (whose `prompt` field a completion prompt uses)."""
        question = query.question if isinstance(query, QAItem) else query
        if self.chat:
            messages = [{"role": "user", "content": question}]
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return self.tokenizer.encode(text, add_special_tokens=False)
        prompt = query.extra.get("prompt") if isinstance(query, QAItem) else None
        text = (
            prompt.rstrip()
            if isinstance(prompt, str) and prompt.strip()
            else FALLBACK_TEMPLATE.format(question=question)
        )
        return self.tokenizer.encode(text, add_special_tokens=True)

    def answer_ids(self, answer: str) -> list[int]:
        """The answer's tokens plus the end-of-turn token the model should emit after it."""
        text = answer if self.chat else " " + answer
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return ids + ([self.end_id] if self.end_id is not None else [])

    def pair(self, item: QAItem) -> tuple[list[int], list[int]]:
        return self.prompt_ids(item), self.answer_ids(item.answer)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i != self.end_id], skip_special_tokens=True).strip()


@dataclass(frozen=True)
class TokenStats:
    """Per answer token: log p(token), and the mean and standard deviation of log p(v) under the model's own
    next-token distribution (what min-k%++ normalises by)."""

    logprobs: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray


def stats_from_logprobs(vocab_logprobs: np.ndarray, targets: Sequence[int]) -> TokenStats:
    """`vocab_logprobs`: (n, V) normalised log-probs at the positions predicting `targets`."""
    logp = np.asarray(vocab_logprobs, dtype=np.float64)
    p = np.exp(logp)
    mu = (p * logp).sum(axis=1)
    sigma = np.sqrt(np.maximum((p * logp**2).sum(axis=1) - mu**2, 0.0))
    picked = logp[np.arange(len(targets)), np.asarray(targets, dtype=np.int64)]
    return TokenStats(picked.astype(np.float32), mu.astype(np.float32), sigma.astype(np.float32))


class Backend(Protocol):
    """What every check needs from a model, whatever runs it."""

    prompter: Prompter

    def score(self, items: Sequence[QAItem]) -> list[np.ndarray]:
        """Per-token log-probs of each item's answer tokens given its question. Each: (answer_len,)."""
        ...

    def score_stats(self, items: Sequence[QAItem]) -> list[TokenStats]:
        """`score` plus the next-token distribution's mean and spread of log p, per answer token."""
        ...

    def generate(self, questions: Sequence[str | QAItem], max_new_tokens: int) -> list[str]:
        """Greedy answers to each question (or item: its `prompt` serves completion prompts)."""
        ...

    def close(self) -> None: ...
