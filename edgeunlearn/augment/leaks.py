"""The leak check: does a generated text still carry a forget answer's specifics?

Forbidden terms are the item's keywords plus the entities of its answer that its question does not
already name: the subject may stay ("the capital of France"), the fact may not ("Paris").
"""

from __future__ import annotations

from edgeunlearn.data import QAItem
from edgeunlearn.text import entities, find_terms


def forbidden_terms(item: QAItem, reversed_relation: bool = False) -> list[str]:
    """Terms no vague answer to `item` may contain. A reversed question asks for the subject given the
    fact, so then the question's own entities are forbidden too."""
    allowed = set() if reversed_relation else {t.casefold() for t in entities(item.question)}
    terms = list(item.keywords) + [e for e in entities(item.answer) if e.casefold() not in allowed]
    terms += _name_parts(terms, allowed)
    if reversed_relation:
        terms += entities(item.question)
    return _unique(terms)


def leaks(text: str, terms: list[str]) -> list[str]:
    """The forbidden terms present in `text` (whole words, case- and accent-insensitive)."""
    return find_terms(text, terms)


def _name_parts(terms: list[str], allowed: set[str]) -> list[str]:
    """'Jane Roe' also forbids 'Roe' and 'Jane': a surname alone still identifies."""
    parts = []
    for term in terms:
        pieces = term.split()
        if len(pieces) > 1:
            parts += [p for p in pieces if len(p) > 2 and p[0].isupper() and p.casefold() not in allowed]
    return parts


def _unique(terms: list[str]) -> list[str]:
    seen, out = set(), []
    for term in terms:
        if term.casefold() not in seen:
            seen.add(term.casefold())
            out.append(term)
    return out
