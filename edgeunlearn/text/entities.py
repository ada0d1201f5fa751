"""Specific facts in a text, found without a model: numbers, dates, quoted titles, capitalized names.

Rules, not NER: no offline NER library ships in our dependencies and a 100-MB tagger would dwarf the
135M model. The rules err toward finding too much, which is the safe side for a leak check.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
# Capitalized only because they start a sentence or are pronouns: not names.
FUNCTION_WORDS = set(
    """a an the this that these those it its it's he she they we you i i'm i'd i've me my our your their his her
    him them there here what who whom whose which when where why how is are was were be been do does did
    can could would should will shall may might must have has had in on at of for to from by with about as
    and or but if so not no yes also then than some any each every all one many most more much very
    please tell know think sure well however although because while after before during into over under
    sorry hi hello hey ok okay""".split()
)

NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*(?:st|nd|rd|th)?")
QUOTED = re.compile(r"[\"“«]([^\"”»]{2,80})[\"”»]")
WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
PUNCTUATION = ".,;:!?()[]{}\"'“”‘’«»"
CONNECTORS = {"of", "de", "da", "del", "van", "von", "der", "la", "le", "du", "bin", "al", "and"}


def normalize(text: str) -> str:
    """Case- and accent-folded, whitespace collapsed: how facts are compared everywhere."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.casefold().split())


def words(text: str) -> list[str]:
    return WORD.findall(text)


def entities(text: str) -> list[str]:
    """Numbers, month names, quoted titles and runs of capitalized words (with `of`, `de`, … inside)."""
    found = [m.group(0) for m in NUMBER.finditer(text)]
    found += [m.group(1).strip() for m in QUOTED.finditer(text)]
    found += [w for w in words(text) if w.casefold() in MONTHS and w[0].isupper()]
    found += _capitalized_runs(text)
    return _unique(found)


def _capitalized_runs(text: str) -> list[str]:
    runs, current = [], []
    for token in re.findall(r"\S+", text):
        word = token.strip(PUNCTUATION)
        if token.lstrip(PUNCTUATION) != token:  # "(United Kingdom)": punctuation before a word ends a name too
            _close(runs, current)
            current = []
        if word and word[0].isupper() and word.casefold() not in FUNCTION_WORDS and WORD.fullmatch(word):
            current.append(word)
        elif current and word.casefold() in CONNECTORS and token == word:
            current.append(word)
            continue
        else:
            _close(runs, current)
            current = []
        if token.rstrip(PUNCTUATION) != token:  # punctuation after a word ends a name
            _close(runs, current)
            current = []
    _close(runs, current)
    return runs


def _close(runs: list[str], current: list[str]) -> None:
    while current and current[-1].casefold() in CONNECTORS:
        current.pop()
    if current:
        runs.append(" ".join(current))


def find_terms(text: str, terms: Iterable[str]) -> list[str]:
    """The terms present in `text` as whole words, ignoring case and accents."""
    haystack = normalize(text)
    return [t for t in terms if re.search(rf"(?<!\w){re.escape(normalize(t))}(?!\w)", haystack)]


def _unique(items: Iterable[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        key = normalize(item)
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out
