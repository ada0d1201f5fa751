"""Fact judges: how much of a reference fact an answer still carries, for KFR / KRR.

Each judge returns, per (item, answer), the entity similarity (matched reference entities / reference
entities), the entity count, and whether the answer contradicts the reference (None: no NLI model).
`entity` matches names only; `embedding` also counts an answer entity within cosine 0.8 of a reference
entity (MiniLM, offline); `nli` adds a contradiction verdict from a local NLI model in ReLearn's
directions: for a forget item the premise is the model's answer and the hypothesis the reference (does what it
says now rule the fact out?), for a retain item the other way round (does the fact rule out what it says?).
Adding a judge is one class here and one registry line.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from edgeunlearn.data import QAItem
from edgeunlearn.metrics.knowledge import entity_similarity, reference_entities
from edgeunlearn.registry import Registry
from edgeunlearn.text import entities


@dataclass(frozen=True)
class FactAssessment:
    entity_similarity: float | None  # None: the reference has no entities to compare
    entities: int
    contradiction: bool | None = None  # None: no NLI judge


class EntityJudge:
    name = "entity"
    encoder = None

    def __init__(self, nli_model: str | None = None):
        pass

    def assess(self, items: Sequence[QAItem], answers: Sequence[str], forget: bool) -> list[FactAssessment]:
        out = []
        for item, answer in zip(items, answers):
            refs = reference_entities(item)
            out.append(FactAssessment(entity_similarity(answer, refs, self.encoder), len(refs)))
        return out


class EmbeddingJudge(EntityJudge):
    name = "embedding"

    def __init__(self, nli_model: str | None = None):
        from edgeunlearn.judges.encoder import SentenceEncoder

        self.encoder = SentenceEncoder()

    def assess(self, items: Sequence[QAItem], answers: Sequence[str], forget: bool) -> list[FactAssessment]:
        # one batched encoder pass over every entity involved, instead of two small passes per item
        texts = {t for item in items for t in reference_entities(item)} | {e for a in answers for e in entities(a)}
        self.encoder.embed(sorted(texts))
        return super().assess(items, answers, forget)


class NLIJudge(EmbeddingJudge):
    name = "nli"

    def __init__(self, nli_model: str | None = None):
        from edgeunlearn.judges.nli import NLIClassifier

        check_nli(self.name, nli_model)
        super().__init__()
        self.nli = NLIClassifier(nli_model)

    def assess(self, items: Sequence[QAItem], answers: Sequence[str], forget: bool) -> list[FactAssessment]:
        references = [item.answer for item in items]
        premises, hypotheses = (answers, references) if forget else (references, answers)
        contradictions = self.nli.contradicts(premises, hypotheses)
        assessed = super().assess(items, answers, forget)
        return [FactAssessment(a.entity_similarity, a.entities, c) for a, c in zip(assessed, contradictions)]


JUDGES: Registry[type] = Registry("judge")
for judge in (EntityJudge, EmbeddingJudge, NLIJudge):
    JUDGES.register(judge.name, judge)


def check_nli(judge: str, nli_model: str | None) -> None:
    """The `nli` judge needs a folder; a folder without the `nli` judge would be silently unused."""
    from edgeunlearn.errors import UserError

    if judge == "nli" and not nli_model:
        raise UserError("judge 'nli' needs --nli-model DIR: a local BERT NLI folder (nothing ships one)")
    if nli_model and judge != "nli":
        raise UserError(f"--nli-model is only used by judge 'nli', not {judge!r}: add --judge nli")


@functools.lru_cache(maxsize=4)
def make_judge(name: str, nli_model: str | None = None):
    """One judge per (name, folder) for the whole process: the encoder and NLI weights load once (validation,
    the base check and the unlearned check share them) and the embedding memo carries over."""
    return JUDGES.get(name)(nli_model)
