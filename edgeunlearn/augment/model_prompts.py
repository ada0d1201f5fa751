"""Asking the local model for question variants and vague answers, and checking what it returns.

Each retry uses another phrasing of the instruction, so greedy decoding (reproducible) still yields a
different attempt. Whatever fails a check is discarded; the caller falls back to templates.
"""

from __future__ import annotations

import re

from edgeunlearn.augment.leaks import leaks
from edgeunlearn.text import entities, fluency_issues, words

NUMBER_WORDS = set(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred thousand "
    "million billion first second third fourth fifth dozen".split()
)

QUESTION_PROMPTS = {
    "rephrased": (
        "Rewrite this question in other words. Reply with the new question only.\nQuestion: {question}",
        "Paraphrase the question below. Output only the paraphrased question.\n{question}",
        "Ask the same thing as this question, worded differently, as one question: {question}",
    ),
    "specific": (
        "Rewrite this question so it is more specific and adds some context. Reply with the question only.\n"
        "Question: {question}",
        "Make this question more detailed by adding background. Output only the question.\n{question}",
        "Add context to this question and ask it again as one question: {question}",
    ),
    "noisy": (
        "Rewrite this question casually, the way someone types in a hurry, with a typo. Reply with the question "
        "only.\nQuestion: {question}",
        "Write this question in informal chat style with a spelling mistake. Output only the question.\n{question}",
        "Ask this question sloppily, lower case, one typo: {question}",
    ),
    "reversed": (
        "Question: {question}\nAnswer: {answer}\nWrite the reverse question: one that gives the answer and asks "
        "for the subject. Reply with the question only.",
        "Fact: {answer}\nWrite a question that mentions the fact's answer and asks what it belongs to. "
        "Output only the question.",
        "Turn this around into a question whose answer is the subject, not the fact: {answer}",
    ),
}
ANSWER_PROMPTS = (
    "Answer this question vaguely: stay on the subject but give no names, places, dates or numbers.\n"
    "Question: {question}",
    "Reply to the question below in one general sentence about its topic, without any specific facts.\n{question}",
    "Give a vague, non-specific answer that keeps the topic but leaves out every detail: {question}",
)
LABEL = re.compile(r"^(?:question|answer|reply|new question|rewritten question)\s*:\s*", re.IGNORECASE)


def question_prompt(kind: str, question: str, answer: str, attempt: int) -> str:
    options = QUESTION_PROMPTS[kind]
    return options[attempt % len(options)].format(question=question, answer=answer)


def answer_prompt(question: str, attempt: int) -> str:
    return ANSWER_PROMPTS[attempt % len(ANSWER_PROMPTS)].format(question=question)


def clean(text: str) -> str:
    """First non-empty line, without a 'Question:' label or wrapping quotes."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return LABEL.sub("", line).strip().strip("\"'“”").strip()


def usable_question(text: str, kind: str, original: str, terms: list[str], taken: set[str]) -> bool:
    """A real, new question: ends with '?', 3-40 words, not a copy, and (except reversed) no leak.
    A reversed question must name the fact, since it asks for the subject given the fact."""
    n, key = len(words(text)), question_key(text)
    if not text.endswith("?") or not 3 <= n <= 40 or key in taken or key == question_key(original):
        return False
    found = leaks(text, terms)
    return bool(found) if kind == "reversed" else not found


def usable_answer(text: str, question: str, terms: list[str]) -> bool:
    """Fluent, a statement, 4-60 words, no forbidden term, no specifics the question does not already
    name (a new name or number is a fact, maybe a hallucinated one: not vague), and on the question's
    topic (shares a word with it)."""
    n = len(words(text))
    if fluency_issues(text) or text.endswith("?") or not 4 <= n <= 60 or leaks(text, terms):
        return False
    if new_specifics(text, question):
        return False
    topic = {w.casefold() for w in words(question) if len(w) > 3}
    return bool(topic & {w.casefold() for w in words(text)})


def new_specifics(text: str, question: str) -> list[str]:
    """Names, numbers and number words in `text` that `question` does not contain."""
    asked = {w.casefold() for w in words(question)}
    found = [e for e in entities(text) if not all(w.casefold() in asked for w in words(e) or [e])]
    return found + [w for w in words(text) if w.casefold() in NUMBER_WORDS and w.casefold() not in asked]


def question_key(text: str) -> str:
    """Two questions that differ only in case and punctuation are the same question."""
    return " ".join(w.casefold() for w in words(text))
