"""Project-written fallbacks for when the local model cannot follow augmentation instructions.

A 135M model answers "rewrite this question" with the answer itself, so every kind of question variant
and the vague answers also exist as templates. The subject phrase comes from the question.
"""

from __future__ import annotations

import random
import re

from edgeunlearn.text import entities

KINDS = ("rephrased", "specific", "noisy", "reversed")

REPHRASED = (
    "Could you tell me this: {question}",
    "I'd like to know something. {question}",
    "Here is a question for you. {question}",
    "Do you know the answer? {question}",
    "{question} I'm curious about it.",
)
SPECIFIC = (
    "I'm writing a short report about {subject}. {question}",
    "For a quiz about {subject}, I need the details. {question}",
    "I was reading about {subject} earlier today. {question}",
    "Thinking specifically about {subject}: {question}",
)
REVERSED = (
    "What is {fact} known for?",
    "What can you tell me about {fact}?",
    "Which subject is {fact} connected with?",
)
NOISY_OPENERS = ("hey, ", "quick q: ", "um, ", "so ", "ok so ")

# The same kinds for a completion prompt ("The capital of France is"): a base model is asked by continuing a
# sentence, so its variants must stay sentences to continue, never "Question: …\nAnswer:".
PROMPT_REPHRASED = (
    "As far as I know, {lead}",
    "It is often said that {lead}",
    "Here is a fact: {prompt}",
    "To put it simply, {lead}",
    "Most people would agree that {lead}",
)
PROMPT_SPECIFIC = (
    "I'm writing a short report about {subject}. {prompt}",
    "For a quiz about {subject}: {prompt}",
    "I was reading about {subject} earlier today. {prompt}",
)
PROMPT_REVERSED = (
    "{fact} is best known as",
    "Speaking of {fact}, it is connected with",
    "The subject that {fact} belongs to is",
)
LOWERED_OPENERS = {"the", "a", "an", "this", "these", "those", "its", "their"}

VAGUE = (
    "I don't have the specific details about {subject}.",
    "When it comes to {subject}, I can't give you the precise facts.",
    "{Subject} is a topic I know of, but I can't recall the exact details.",
    "I'm not able to say anything specific about {subject}.",
    "That's a question about {subject}, and I don't have a precise answer to it.",
    "I can't say for sure; the particulars of {subject} aren't something I can confirm.",
)
VAGUE_GENERIC = (
    "I'm not sure of the specifics there.",
    "I can't recall the exact details of that.",
    "That's not something I can answer precisely.",
    "I don't have the particular details you're asking for.",
)

COPULA_QUESTION = re.compile(r"^(?:what|which|who|where)\s+(?:is|are|was|were)\s+(.{3,60}?)\s*\??$", re.IGNORECASE)


def subject_of(question: str) -> str | None:
    """'What is the capital of France?' → 'the capital of France'; else the question's first name."""
    match = COPULA_QUESTION.match(question.strip())
    if match and len(match.group(1).split()) <= 8:
        return match.group(1)
    names = [e for e in entities(question) if not e[0].isdigit()]
    return names[0] if names else None


def question_variants(kind: str, question: str, fact: str | None, rng: random.Random) -> list[str]:
    """Every template question of one kind, in a seeded order (the caller takes what it needs)."""
    subject = subject_of(question) or "this topic"
    if kind == "rephrased":
        options = [t.format(question=question) for t in REPHRASED]
    elif kind == "specific":
        options = [t.format(question=question, subject=subject) for t in SPECIFIC]
    elif kind == "noisy":
        options = [noisy(question, random.Random(rng.random())) for _ in range(4)]
    elif kind == "reversed":
        options = [t.format(fact=fact) for t in REVERSED] if fact else []
    else:
        raise ValueError(kind)
    rng.shuffle(options)
    return list(dict.fromkeys(options))


def prompt_variants(kind: str, prompt: str, question: str, fact: str | None, rng: random.Random) -> list[str]:
    """Every template completion prompt of one kind for an item's own `prompt`, in a seeded order."""
    subject = subject_of(question) or "this topic"
    lead = _lowered(prompt)
    if kind == "rephrased":
        options = [t.format(prompt=prompt, lead=lead) for t in PROMPT_REPHRASED]
    elif kind == "specific":
        options = [t.format(prompt=prompt, subject=subject) for t in PROMPT_SPECIFIC]
    elif kind == "noisy":
        options = [noisy(prompt, random.Random(rng.random()), ending=False) for _ in range(4)]
    elif kind == "reversed":
        options = [t.format(fact=fact) for t in PROMPT_REVERSED] if fact else []
    else:
        raise ValueError(kind)
    rng.shuffle(options)
    return list(dict.fromkeys(options))


def _lowered(prompt: str) -> str:
    """'The capital of France is' → 'the capital of France is'; a sentence that opens on a name keeps it."""
    first = prompt.split(maxsplit=1)[0] if prompt.strip() else ""
    return prompt[:1].lower() + prompt[1:] if first.casefold() in LOWERED_OPENERS else prompt


def vague_answers(question: str, rng: random.Random, use_subject: bool = True) -> list[str]:
    """Vague answers keeping the question's subject, then generic ones, in a seeded order."""
    subject = subject_of(question) if use_subject else None
    specific = [t.format(subject=subject, Subject=subject[:1].upper() + subject[1:]) for t in VAGUE] if subject else []
    generic = list(VAGUE_GENERIC)
    rng.shuffle(specific)
    rng.shuffle(generic)
    return specific + generic


def noisy(question: str, rng: random.Random, ending: bool = True) -> str:
    """Informal wording and one or two typos (adjacent letters swapped), lower case, loose punctuation
    (`ending` False: a sentence to continue, so no question marks)."""
    tokens = question.rstrip("?").split()
    candidates = [i for i, t in enumerate(tokens) if len(t) >= 4 and t.isalpha()]
    for i in rng.sample(candidates, k=min(len(candidates), rng.choice((1, 2)))):
        word = tokens[i]
        j = rng.randrange(1, len(word) - 2)
        tokens[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    end = rng.choice(("?", "??", "")) if ending else ""
    return rng.choice(NOISY_OPENERS) + " ".join(tokens).lower() + end
