"""ReLearn's augmented forget data, offline: question variants of four kinds, a vague answer for the
original and every variant, completion items — all leak-checked, every record labelled with its source.

The local model is asked first (up to `attempts` phrasings); what it cannot do well, templates do.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from edgeunlearn.augment import model_prompts as mp
from edgeunlearn.augment import templates
from edgeunlearn.augment.leaks import forbidden_terms, leaks
from edgeunlearn.config import AugmentConfig
from edgeunlearn.data import QAItem
from edgeunlearn.text import words

Generate = Callable[[list[str], int], list[str]]  # (prompts, max_new_tokens) → texts


@dataclass
class Record:
    of: int  # 1-based number of the forget item it stands for
    kind: str  # original, rephrased, specific, noisy, reversed, completion
    question: str = ""
    answer: str = ""
    question_source: str = ""  # given, model, template
    answer_source: str = ""  # model, template
    terms: list[str] = field(default_factory=list)  # what the answer must not contain
    # the forget item's own completion prompt, on its original question: a base model is trained on the very
    # text the check gives it ("The official language of France is"), not only on "Question: …\nAnswer:"
    prompt: str = ""

    def to_json(self) -> dict:
        row = asdict(self)
        row.pop("terms")
        if not row["prompt"]:
            row.pop("prompt")
        return row


@dataclass(frozen=True)
class Augmented:
    records: list[Record]
    dropped: list[dict]

    def items(self) -> list[QAItem]:
        return [QAItem(r.question, r.answer, (), r.to_json()) for r in self.records]

    def counts(self) -> dict:
        by = Counter((r.kind, r.question_source, r.answer_source) for r in self.records)
        return {
            "records": len(self.records),
            "dropped": len(self.dropped),
            "by_kind_and_source": [
                {"kind": k, "question_source": q, "answer_source": a, "count": n} for (k, q, a), n in sorted(by.items())
            ],
        }


def augment(items: Sequence[QAItem], cfg: AugmentConfig, seed: int, generate: Generate | None) -> Augmented:
    """Augmented records for `items`; `generate` None means templates only."""
    slots = _slots(items, cfg)
    dropped: list[dict] = []
    if generate is not None:
        _questions_from_model(slots, items, cfg, generate)
    slots = _questions_from_templates(slots, items, seed, dropped)
    _prompts_from_templates(slots, items, seed)
    if generate is not None:
        _answers_from_model(slots, cfg, generate)
    slots = _answers_from_templates(slots, items, seed, dropped)
    if cfg.completions:
        slots += _completions(slots)
    return Augmented(slots, dropped)


def _slots(items: Sequence[QAItem], cfg: AugmentConfig) -> list[Record]:
    slots = []
    for number, item in enumerate(items, start=1):
        prompt = item.extra.get("prompt")
        prompt = prompt if isinstance(prompt, str) else ""
        original = Record(number, "original", item.question, question_source="given", terms=forbidden_terms(item))
        original.prompt = prompt
        slots.append(original)
        for kind in cfg.kinds:
            terms = forbidden_terms(item, reversed_relation=kind == "reversed")
            slots += [Record(number, kind, terms=terms) for _ in range(cfg.per_kind)]
    return slots


def _questions_from_model(slots, items, cfg: AugmentConfig, generate: Generate) -> None:
    taken = {s.of: {mp.question_key(items[s.of - 1].question)} for s in slots}
    for attempt in range(cfg.attempts):
        pending = [s for s in slots if not s.question]
        if not pending:
            return
        prompts = [
            mp.question_prompt(s.kind, items[s.of - 1].question, items[s.of - 1].answer, attempt) for s in pending
        ]
        for slot, text in zip(pending, generate(prompts, cfg.max_new_tokens)):
            text = mp.clean(text)
            original = items[slot.of - 1]
            if mp.usable_question(text, slot.kind, original.question, forbidden_terms(original), taken[slot.of]):
                slot.question, slot.question_source = text, "model"
                taken[slot.of].add(mp.question_key(text))


def _questions_from_templates(slots, items, seed: int, dropped: list[dict]) -> list[Record]:
    used: dict[int, set[str]] = {}
    kept = []
    for slot in slots:
        used.setdefault(slot.of, set()).add(slot.question)
        if not slot.question:
            item = items[slot.of - 1]
            fact = next(iter(forbidden_terms(item)), None)
            rng = random.Random(f"{seed}:{slot.of}:{slot.kind}:{len(used[slot.of])}")
            options = templates.question_variants(slot.kind, item.question, fact, rng)
            options = [q for q in options if q not in used[slot.of]]
            if not options:
                dropped.append({"of": slot.of, "kind": slot.kind, "reason": "no template applies (no fact to reverse)"})
                continue
            slot.question, slot.question_source = options[0], "template"
            used[slot.of].add(options[0])
        kept.append(slot)
    return kept


def _prompts_from_templates(slots, items, seed: int) -> None:
    """Every variant of an item that has a completion prompt gets a completion-prompt variant too, so that a
    model asked by completion trains on sentences to continue. A chat prompt uses the question instead."""
    used: dict[int, set[str]] = {}
    for slot in slots:
        item = items[slot.of - 1]
        own = item.extra.get("prompt")
        if slot.prompt or not isinstance(own, str) or not own.strip():
            continue
        taken = used.setdefault(slot.of, {own})
        rng = random.Random(f"{seed}:{slot.of}:{slot.kind}:prompt:{len(taken)}")
        fact = next(iter(forbidden_terms(item)), None)
        options = [p for p in templates.prompt_variants(slot.kind, own, item.question, fact, rng) if p not in taken]
        slot.prompt = options[0] if options else own
        taken.add(slot.prompt)


def _answers_from_model(slots, cfg: AugmentConfig, generate: Generate) -> None:
    for attempt in range(cfg.attempts):
        pending = [s for s in slots if not s.answer]
        if not pending:
            return
        outputs = generate([mp.answer_prompt(s.question, attempt) for s in pending], cfg.max_new_tokens)
        for slot, text in zip(pending, outputs):
            text = mp.clean(text)
            if mp.usable_answer(text, slot.question, slot.terms):
                slot.answer, slot.answer_source = text, "model"


def _answers_from_templates(slots, items, seed: int, dropped: list[dict]) -> list[Record]:
    kept, used = [], Counter()
    for n, slot in enumerate(slots):
        if not slot.answer:
            rng = random.Random(f"{seed}:{slot.of}:answer:{n}")
            # the subject comes from the original question; a reversed answer names no subject at all
            options = templates.vague_answers(items[slot.of - 1].question, rng, use_subject=slot.kind != "reversed")
            clean = sorted((a for a in options if not leaks(a, slot.terms)), key=lambda a: used[(slot.of, a)])
            if not clean:
                dropped.append({"of": slot.of, "kind": slot.kind, "reason": f"every answer leaks {slot.terms[:3]}"})
                continue
            slot.answer, slot.answer_source = clean[0], "template"
            used[(slot.of, clean[0])] += 1
        kept.append(slot)
    return kept


def _completions(slots: list[Record]) -> list[Record]:
    """The first quarter of each distinct vague answer as prompt, the rest as the target (asked by completion,
    the prompt is that quarter as it stands)."""
    out, seen = [], set()
    for slot in slots:
        tokens = slot.answer.split()
        if len(words(slot.answer)) < 4 or (slot.of, slot.answer) in seen:
            continue
        seen.add((slot.of, slot.answer))
        cut = max(1, len(tokens) // 4)
        out.append(
            Record(
                slot.of,
                "completion",
                " ".join(tokens[:cut]),
                " ".join(tokens[cut:]),
                slot.answer_source,
                slot.answer_source,
                slot.terms,
                prompt=" ".join(tokens[:cut]),
            )
        )
    return out
