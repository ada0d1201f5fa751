"""ReLearn's Knowledge Forgetting Rate (KFR) and Knowledge Retention Rate (KRR).

Entity similarity of an answer to a reference = matched reference entities / reference entities, where a
reference entity matches when the answer names it (normalized equality, whole words) or, given an encoder,
when one of the answer's entities embeds within cosine 0.8 of it. An NLI judge may add "contradiction".
"""

from __future__ import annotations

from collections.abc import Sequence

from edgeunlearn.data import QAItem
from edgeunlearn.text import entities, find_terms

EMBEDDING_MATCH = 0.8
RETAIN_THRESHOLD = 0.3


def reference_entities(item: QAItem) -> list[str]:
    """The item's keywords; else the entities of its answer that its question does not name; else all."""
    if item.keywords:
        return list(item.keywords)
    asked = {e.casefold() for e in entities(item.question)}
    own = [e for e in entities(item.answer) if e.casefold() not in asked]
    return own or entities(item.answer)


def entity_similarity(answer: str, references: Sequence[str], encoder=None) -> float | None:
    """Share of `references` the answer carries; None when there is nothing to compare."""
    if not references:
        return None
    named = set(find_terms(answer, references))
    missing = [r for r in references if r not in named]
    candidates = entities(answer)
    if encoder is not None and missing and candidates:
        close = encoder.similarity(missing, candidates).max(axis=1) >= EMBEDDING_MATCH
        named |= {r for r, hit in zip(missing, close) if hit}
    return len(named) / len(references)


def forget_threshold(n_entities: int) -> float:
    """τ: 0.5 for answers with at most 3 reference entities, else 0.3 (ReLearn)."""
    return 0.5 if n_entities <= 3 else 0.3


def kfr(similarities: Sequence[float | None], counts: Sequence[int], contradictions: Sequence[bool] | None = None):
    """Share of forget items forgotten: contradiction, or entity similarity ≤ τ(entity count)."""
    scored = _scored(similarities, counts, contradictions)
    if not scored:
        return None
    return sum(c or s <= forget_threshold(n) for s, n, c in scored) / len(scored)


def krr(similarities: Sequence[float | None], contradictions: Sequence[bool] | None = None):
    """Share of retain items kept: no contradiction and entity similarity ≥ 0.3."""
    scored = _scored(similarities, [0] * len(similarities), contradictions)
    if not scored:
        return None
    return sum(not c and s >= RETAIN_THRESHOLD for s, _, c in scored) / len(scored)


def _scored(similarities, counts, contradictions) -> list[tuple[float, int, bool]]:
    """(similarity, entity count, contradiction) of the items that count. An item whose reference has no
    entities counts only when the NLI judge found a contradiction, with similarity 0 as ReLearn scores it
    (ReLearn also scores the rest 0; without a verdict we have no evidence either way and leave them out)."""
    flags = contradictions or [False] * len(similarities)
    return [(0.0 if s is None else s, n, c) for s, n, c in zip(similarities, counts, flags) if s is not None or c]
