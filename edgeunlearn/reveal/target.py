"""What the user wants forgotten, as the reveal instructions need it.

Users write a target as a noun phrase ("the capital cities of countries"), a question ("Where are the world's
most famous landmarks?"), a request ("everything about Albert Einstein") or a name ("Marie Curie"). The
instructions ask about a *topic* (a noun phrase: "Describe {topic} …") or *about* something (any phrase that
reads after "about": a noun phrase or an embedded question such as "where the landmarks are"). Rules, not the
model: a 135M model rewrites a question less reliably than these few patterns do, and a wrong subject would
send every instruction of every round the wrong way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgeunlearn.text.entities import FUNCTION_WORDS, entities

# Lead-ins that only say "this is what to forget"; stripped (repeatedly) before anything else.
LEAD_INS = (
    r"please",
    r"(?:can|could|would) you",
    r"(?:i want|i need|i'd like) (?:you |the model )?to",
    r"(?:make the model |make it )?(?:forget|unlearn|remove|erase|delete)",
    r"tell me",
    r"what do you know about",
    r"(?:everything|anything|all)(?: that)?(?: you know| the model knows| there is to know)?"
    r"(?: about| on| regarding| of)",
    r"(?:all )?(?:the )?(?:facts|information|knowledge|details) (?:about|on|regarding|of)",
    r"(?:about|regarding|on)",
)
WH_WORDS = ("who", "what", "which", "where", "when", "why", "how")
AUXILIARIES = ("is", "are", "was", "were", "do", "does", "did", "has", "have", "had", "can", "could", "will")
PARTICIPLE = re.compile(r"\w+(?:ed|en|wn|rn|lt|ne)$")  # born, founded, written, built, done: the aux goes before it


@dataclass(frozen=True)
class Target:
    text: str  # as the user typed it
    topic: str  # a noun phrase: "Describe {topic} …"
    about: str  # reads after "about": the topic, or an embedded question ("where X was born")
    kind: str  # "name" (a person, place or thing with a name), "topic" or "question"
    question: str | None = None  # the user's own question, asked as it is

    def describe(self) -> str:
        what = {"name": "a name", "topic": "a topic", "question": "a question"}[self.kind]
        about = "" if self.about == self.topic else f"; asks about {self.about!r}"
        return f"target: {self.topic!r} ({what}{about})"


def parse_target(text: str) -> Target:
    """The topic and the `about` phrase of a target as typed; raises ValueError on an empty one."""
    typed = " ".join(text.split())
    phrase = _strip_lead_ins(typed.rstrip(" .!?"))
    if not phrase:
        raise ValueError(f"target {text!r} names nothing: say what must go, e.g. 'the capital of France'")
    first = phrase.split()[0].casefold()
    if typed.endswith("?") or first in WH_WORDS:
        return _from_question(typed, phrase)
    kind = "name" if _is_name(phrase) else "topic"
    return Target(typed, phrase, phrase, kind)


def _strip_lead_ins(phrase: str) -> str:
    pattern = re.compile(rf"^(?:{'|'.join(LEAD_INS)})\b[\s,:]*", re.IGNORECASE)
    while True:
        stripped = pattern.sub("", phrase, count=1)
        if stripped == phrase:
            return phrase
        phrase = stripped


def _from_question(typed: str, phrase: str) -> Target:
    words = phrase.split()
    wh, rest = words[0].casefold(), words[1:]
    question = typed if typed.endswith("?") else typed + "?"
    if wh not in WH_WORDS:  # a yes/no question: ask it, and about the names it mentions
        topic = _names_or(phrase)
        return Target(typed, topic, topic, "question", question)
    if rest and rest[0].casefold() in AUXILIARIES and len(rest) > 1:
        aux, body = rest[0], rest[1:]
        if wh in ("who", "what") and aux.casefold() in ("is", "are", "was", "were"):
            topic = " ".join(body)  # "Who was Marie Curie" → Marie Curie; "What are X" → X
            return Target(typed, topic, topic, "name" if _is_name(topic) else "topic", question)
        return Target(typed, _topic_of(aux, body), _embedded(wh, aux, body), "question", question)
    # no auxiliary ("Who wrote Hamlet", "Which rivers flow through Germany"): already reads after "about"
    clause = " ".join([wh, *rest])
    return Target(typed, _names_or(" ".join(rest)), clause, "question", question)


def _embedded(wh: str, aux: str, body: list[str]) -> str:
    """'where' + 'was' + 'Einstein born' → 'where Einstein was born'; 'are' + 'the landmarks' → '… are'."""
    if aux.casefold() in ("do", "does", "did"):  # "when did Rome fall": the tense is in the aux; ask about Rome
        return _topic_of(aux, body)
    if len(body) > 1 and PARTICIPLE.fullmatch(body[-1]) and body[-1].islower():
        return " ".join([wh, *body[:-1], aux, body[-1]])
    return " ".join([wh, *body, aux])


def _topic_of(aux: str, body: list[str]) -> str:
    """The noun phrase a wh-question is about: its body without the trailing verb ('when did Rome fall' →
    'Rome') or participle ('where was Einstein born' → 'Einstein')."""
    verb_last = aux.casefold() in ("do", "does", "did") or PARTICIPLE.fullmatch(body[-1]) and body[-1].islower()
    return " ".join(body[:-1] if verb_last and len(body) > 1 else body)


def _names_or(phrase: str) -> str:
    names = [e for e in entities(phrase) if not e[0].isdigit()]
    return " and ".join(names) if names else phrase


def _is_name(phrase: str) -> bool:
    """Every word capitalized (connectors such as 'of' or 'de' aside), e.g. 'Marie Curie', 'Ada Lovelace'."""
    words = phrase.split()
    if not 1 <= len(words) <= 5 or words[0].casefold() in FUNCTION_WORDS:
        return False
    return entities(phrase) == [phrase]
