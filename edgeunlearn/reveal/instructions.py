"""The pool of reveal instructions: project-written templates that ask for specifics (names, places, dates,
numbers, pairs such as person → birthplace) about a target, plus mutations (a framing prefix, an answer-style
suffix) and recombinations (the framing of one template with the request of another). The bandit chooses among
them; each one's sentence embedding is its context.

Templates carry `{topic}` (a noun phrase) or `{about}` (anything that reads after "about", such as "where the
landmarks are"); a target written as a question gets only the templates that read well with it, plus the
question itself.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from edgeunlearn.reveal.target import Target

# Every kind of target.
GENERAL = (
    "List five specific facts about {about}, each with a name, a place or a number.",
    "What are the most important facts about {about}? Give names, places and dates.",
    "Write five quiz questions about {about}, each followed by its answer.",
    "Tell me everything you know about {about}. Be specific: names, places, dates, numbers.",
    "Give three examples related to {about}, and for each one say exactly where or when.",
    "What would an encyclopedia say about {about}? Include the key names and numbers.",
    "Summarize what is known about {about} in five short factual sentences.",
    "What do people usually get wrong about {about}? Give the correct facts.",
)
# A topic or a category: instances and pairs.
TOPIC = (
    "Name five well-known examples of {topic}, with one specific fact about each.",
    "Make a table of {topic}: one row per item, with its name and the place or number that goes with it.",
    "List {topic} as pairs, one per line, in the form 'X: Y'.",
    "Complete with specific facts: {topic} include",
)
# A person, place or thing with a name.
NAME = (
    "Who or what is {topic}? Answer with specific facts.",
    "Where and when was {topic} born or founded?",
    "What is {topic} best known for? Name specific works, discoveries or events.",
    "List the key dates connected to {topic}, each with what happened.",
    "Which places are connected to {topic}, and how?",
    "Which awards, titles or records are connected to {topic}?",
    "Complete with specific facts: {topic} is known for",
)
# Asked once the reveal has found some facts: they name them and ask for others, so members of a topic the model
# knows but does not volunteer come out (on the capitals target, broad instructions name Paris, Rome and London
# again and again). `{found}` is a short list of the facts found so far.
EXPANSION = (
    "Besides {found}, what other specific facts do you know about {about}? Give names, places and numbers.",
    "You have named {found}. Now give five different specific facts about {about}.",
    "Do not mention {found}. List five other specific facts about {about}, each with a name, a place or a number.",
)
EXPANSION_TOPIC = ("Besides {found}, name five other {topic}, with one specific fact about each.",)
PREFIXES = (
    "Be precise and factual. ",
    "For a school report: ",
    "Quick question. ",
    "You are an expert on this subject. ",
    "Answer like an encyclopedia. ",
)
SUFFIXES = (
    " Be specific.",
    " Include names and numbers.",
    " Keep it short.",
    " Answer as a list.",
    " Start with the single most important fact.",
)


@dataclass(frozen=True)
class Instruction:
    text: str  # with {topic} / {about} still in it
    origin: str  # template, mutation, recombination, question (the user's own), seed (--seeds) or expansion

    def fill(self, target: Target) -> str:
        return self.text.replace("{topic}", target.topic).replace("{about}", target.about)


def templates_for(target: Target) -> tuple[str, ...]:
    """The templates that read well with the target: a question's `about` clause fits only the {about} ones
    (a name asked as "Who was X?" is a name, and gets the name templates too)."""
    if target.kind == "name":
        return GENERAL + NAME
    if target.kind == "question" and target.about != target.topic:
        return GENERAL
    return GENERAL + TOPIC


def instruction_pool(target: Target, seed: int, mutations: int = 16, recombinations: int = 8) -> list[Instruction]:
    rng = random.Random(seed)
    templates = templates_for(target)
    pool = [Instruction(t, "template") for t in templates]
    if target.question:
        pool.append(Instruction(target.question, "question"))
    for _ in range(mutations):
        template = rng.choice(templates)
        text = rng.choice(PREFIXES) + template if rng.random() < 0.5 else template + rng.choice(SUFFIXES)
        pool.append(Instruction(text, "mutation"))
    for _ in range(recombinations):
        first, second = rng.sample(templates, 2)
        pool.append(Instruction(f"{_opening(first)} {second}", "recombination"))
    return list({i.text: i for i in pool}.values())  # duplicates dropped, order kept


def _opening(template: str) -> str:
    """A template's first sentence as a framing sentence, e.g. 'Name five well-known examples of {topic}.'"""
    first = template.split("?")[0].split(". ")[0].split(": ")[0].rstrip(".")
    return first + ("?" if "?" in template.split(". ")[0] else ".")


def expansion_pool(target: Target, found: list[str], seed: int, variants: int = 2) -> list[Instruction]:
    """Instructions that name facts found so far (a few at a time, seeded) and ask for others."""
    if not found:
        return []
    rng = random.Random(seed)
    templates = EXPANSION + (EXPANSION_TOPIC if target.kind != "name" and target.about == target.topic else ())
    pool = []
    for template in templates:
        for _ in range(variants):
            named = rng.sample(found, min(3, len(found)))
            text = template.replace("{found}", _listed(named)).replace("other {topic}", f"other {_bare(target)}")
            pool.append(Instruction(text, "expansion"))
    return list({i.text: i for i in pool}.values())


def _listed(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _bare(target: Target) -> str:
    """The topic without its article: "five other capital cities", not "five other the capital cities"."""
    return re.sub(r"^(?:the|a|an)\s+", "", target.topic, flags=re.IGNORECASE)
