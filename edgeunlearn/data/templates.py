"""Template answers for FLAT: refusals and "I'm not sure" answers written by this project.

Each forget item gets one, drawn by seed, as the answer the model should prefer over the real one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from edgeunlearn.data.load import QAItem

REFUSALS = (
    "I'm not sure about that.",
    "I don't know the answer to that.",
    "I'm afraid I can't answer that.",
    "I don't have that information.",
    "That's something I can't tell you.",
    "I'm not able to answer that question.",
    "I honestly don't know.",
    "I have no reliable information about that.",
    "I can't say for certain.",
    "That's not something I know.",
    "I'm unable to help with that question.",
    "I don't recall that.",
    "I'm not certain, so I'd rather not guess.",
    "Sorry, I don't know.",
    "I can't provide an answer to that.",
    "I'm not the right source for that.",
    "I don't have an answer for that.",
    "I'm uncertain about that.",
    "That's beyond what I can answer.",
    "I'd rather not guess on that one.",
    "I have no idea, I'm afraid.",
    "I can't recall any details about that.",
    "I'm not familiar with that.",
    "I don't have enough knowledge to answer.",
    "Unfortunately, I can't answer that.",
    "I'm not in a position to answer that.",
    "That's unclear to me.",
    "I can't help with that one.",
    "I don't know much about that.",
    "I'm sorry, but I'm not sure.",
    "No idea, sorry.",
    "I cannot answer that reliably.",
)


def refusal_answers(items: Sequence[QAItem], seed: int, templates: Sequence[str] = REFUSALS) -> list[QAItem]:
    """Each item's question with one template answer, drawn reproducibly from `seed`."""
    from edgeunlearn.errors import UserError

    if not templates:
        raise UserError("the template list is empty: give at least one template answer")
    rng = random.Random(seed)
    return [QAItem(item.question, rng.choice(list(templates))) for item in items]
