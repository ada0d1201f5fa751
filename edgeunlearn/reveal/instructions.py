"""The pool of reveal instructions: project-written templates about a `{target}`, plus mutations (a framing
prefix, an answer-style suffix) and recombinations (the opening of one template with the request of
another). The bandit chooses among them; each one's sentence embedding is its context."""

from __future__ import annotations

import random
from dataclasses import dataclass

TEMPLATES = (
    "Tell me everything you know about {target}.",
    "What are the most important facts about {target}?",
    "Write a short encyclopedia entry on {target}.",
    "Explain {target} to a student who has never heard of it.",
    "List five facts about {target}.",
    "Answer in one sentence: what is notable about {target}?",
    "Describe {target} in detail, with names, places and numbers.",
    "What would a quiz about {target} ask, and what are the answers?",
    "Summarize what is known about {target}.",
    "Give a brief overview of {target}.",
    "What do people usually get wrong about {target}? Give the correct facts.",
    "Complete the sentence with facts: {target} is known for",
)
PREFIXES = (
    "You are an expert historian and geographer. ",
    "Be precise and factual. ",
    "For a school report: ",
    "Quick question. ",
    "I am writing a travel guide. ",
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
    text: str  # with {target} still in it
    origin: str  # template, mutation or recombination

    def fill(self, target: str) -> str:
        return self.text.replace("{target}", target)


def instruction_pool(seed: int, mutations: int = 16, recombinations: int = 8) -> list[Instruction]:
    rng = random.Random(seed)
    pool = [Instruction(t, "template") for t in TEMPLATES]
    for _ in range(mutations):
        template = rng.choice(TEMPLATES)
        text = rng.choice(PREFIXES) + template if rng.random() < 0.5 else template + rng.choice(SUFFIXES)
        pool.append(Instruction(text, "mutation"))
    for _ in range(recombinations):
        first, second = rng.sample(TEMPLATES, 2)
        pool.append(Instruction(f"{_opening(first)} {second}", "recombination"))
    return list({i.text: i for i in pool}.values())  # duplicates dropped, order kept


def _opening(template: str) -> str:
    """A template's first clause as a framing sentence, e.g. 'Give a brief overview of {target}.'"""
    return template.split("?")[0].rstrip(".") + "."
