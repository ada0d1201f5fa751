"""Which answer tokens the forget loss pushes down: the whole answer, or only the fact's own tokens.

"The capital of France is Paris." shares "The capital of … is" with every answer the model must keep; pushing
the whole sentence down teaches the model to stop answering in that shape, which is how general knowledge is
lost long before the fact is. With `keywords`, the forget loss sees only the tokens that spell an item's
keywords (where the answer contains them; an item without keywords in its answer keeps the whole answer)."""

from __future__ import annotations

FOCUS_MODES = ("answer", "keywords")


def forget_pair(prompter, item, focus: str) -> tuple:
    """(prompt ids, answer ids) or, under `keywords` focus, (prompt ids, answer ids, answer token weights)."""
    prompt, answer = prompter.pair(item)
    if focus != "keywords":
        return prompt, answer
    weights = keyword_weights(prompter, answer, item.keywords)
    return (prompt, answer, weights) if weights is not None else (prompt, answer)


def keyword_weights(prompter, answer_ids: list[int], keywords) -> list[float] | None:
    """1.0 on answer tokens that overlap a keyword's characters, 0.0 elsewhere; None when no keyword occurs.
    Character spans come from decoding growing prefixes, which holds for any tokenizer (byte-level BPE,
    SentencePiece) without offset mappings."""
    ends = [len(prompter.tokenizer.decode(answer_ids[: k + 1])) for k in range(len(answer_ids))]
    text = prompter.tokenizer.decode(answer_ids).lower()
    spans = [(at, at + len(word)) for word in keywords if word for at in _occurrences(text, word.lower())]
    if not spans:
        return None
    starts = [0, *ends[:-1]]
    return [1.0 if any(s < b and a < e for a, b in spans) else 0.0 for s, e in zip(starts, ends)]


def _occurrences(text: str, word: str) -> list[int]:
    found, at = [], text.find(word)
    while at >= 0:
        found.append(at)
        at = text.find(word, at + 1)
    return found
