"""The built-in general-knowledge set: 35 everyday facts (the body, music, art, books, science, places, numbers),
those of 126 written for it that the default model (SmolLM2-135M) states greedily within 24 tokens — shipped
with the package and never trained on.

Why: a retain set protects the items it holds — a method trained on them keeps them while knowledge next to
them goes (held-out topic: npo_gd kept 92% of its trained retain items while 60% of held-out ones survived).
The stop rule watches this set, as a utility check no training loss can fit. Items that share a keyword with
the forget set are left out: forgetting "Shakespeare" must not count as damage."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from edgeunlearn.data.load import QAItem, load_items
from edgeunlearn.text.entities import find_terms


def general_knowledge(forget: Sequence[QAItem] = ()) -> list[QAItem]:
    """The built-in facts, minus those whose keywords a forget item mentions or that mention a forget keyword."""
    items = load_items(resources.files("edgeunlearn.data") / "general.jsonl", "general knowledge")
    forget_text = " ".join(f"{f.question} {f.answer}" for f in forget)
    forget_keywords = [k for f in forget for k in f.keywords]
    return [
        item
        for item in items
        if not find_terms(forget_text, item.keywords)
        and not (forget_keywords and find_terms(f"{item.question} {item.answer}", forget_keywords))
    ]
