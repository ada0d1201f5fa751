"""Is an answer fluent text? Three failures: empty, a word repeated 4+ times, mostly non-words.

The checks are deliberately simple and explainable, for a figure people can reproduce by reading answers.
"""

from __future__ import annotations

import re
from collections import Counter

from edgeunlearn.text.entities import FUNCTION_WORDS

REPEAT_LIMIT = 4
NON_WORD_SHARE = 0.5
TOKEN = re.compile(r"\S+")
PUNCTUATION = ".,;:!?()[]{}\"'“”‘’«»…"
PLAIN_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*|\d+(?:[.,:/-]\d+)*(?:st|nd|rd|th|s)?")
VOWELS = set("aeiouyàáâäèéêëìíîïòóôöùúûüæœø")


def fluency_issues(text: str) -> list[str]:
    """[] for a fluent answer, else the names of the failures ("empty", "repeats", "non-words")."""
    raw = TOKEN.findall(text)
    if not raw:
        return ["empty"]
    # a lone dash or ampersand is punctuation; a run like !"!"!" is noise and counts as a non-word
    tokens = [t.strip(PUNCTUATION) or t for t in raw if len(t) > 1 or t.isalnum()]
    if not tokens:
        return ["empty"]
    issues = []
    if _repeats(tokens):
        issues.append("repeats")
    if sum(not _is_word(t) for t in tokens) / len(tokens) >= NON_WORD_SHARE:
        issues.append("non-words")
    return issues


def is_fluent(text: str) -> bool:
    return not fluency_issues(text)


def _repeats(tokens: list[str]) -> bool:
    """The same token 4+ times in a row, or a content word 4+ times anywhere."""
    folded = [t.casefold() for t in tokens]
    run = 1
    for previous, current in zip(folded, folded[1:]):
        run = run + 1 if current == previous else 1
        if run >= REPEAT_LIMIT:
            return True
    counts = Counter(t for t in folded if t not in FUNCTION_WORDS)
    return any(n >= REPEAT_LIMIT for n in counts.values())


def _is_word(token: str) -> bool:
    if not PLAIN_WORD.fullmatch(token):
        return False
    if token[0].isdigit():
        return True
    letters = token.casefold()
    has_vowel = len(letters) <= 3 or any(c in VOWELS for c in letters)
    return has_vowel and not re.search(r"(.)\1\1", letters)
