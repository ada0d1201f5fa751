"""Run one variant (any backend) over the forget and retain sets: greedy answer, verdict, log-prob."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from edgeunlearn.check.judge import Judge
from edgeunlearn.data import QAItem
from edgeunlearn.figures import computed
from edgeunlearn.metrics.knowledge import kfr, krr
from edgeunlearn.metrics.tofu import model_utility, truth_ratio
from edgeunlearn.text import fluency_issues


@dataclass(frozen=True)
class ItemResult:
    question: str
    expected: str
    generated: str
    knows: bool
    rule: str
    rouge_l_recall: float
    mean_logprob: float | None  # None: not scored (a quick check, or the general set)
    fluency_issues: tuple[str, ...] = ()  # empty, repeats, non-words (edgeunlearn.text.fluency)
    entity_similarity: float | None = None  # matched reference entities / reference entities
    reference_entities: int = 0
    contradiction: bool | None = None  # None: no NLI judge
    truth_ratio: float | None = None  # TOFU; None when the item has no paraphrased/perturbed answers


@dataclass(frozen=True)
class VariantSpec:
    """A model to check. `open` builds its backend only when its turn comes (one in memory at a time)."""

    name: str
    model: str  # "base" or "unlearned"
    family: str  # "mlx" or "llama.cpp"
    qtype: str  # "fp32", "F16", "Q4_K_M", "MLX-4bit", ...
    open: Callable[[], object] = field(compare=False, repr=False)
    file: str | None = None
    tensor_types: dict | None = None
    grid_match: float | None = None
    engine: str | None = None  # what computes the answers when not the family itself (e.g. llama.cpp on F32)


@dataclass
class VariantResult:
    spec: VariantSpec
    forget: list[ItemResult]
    retain: list[ItemResult]
    seconds: float
    metrics: dict = field(default_factory=dict)  # figures added after the check, e.g. the Linguistic Score
    general: list[ItemResult] = field(default_factory=list)  # built-in general knowledge, never trained on

    @property
    def forget_known(self) -> float:
        return share(self.forget)

    @property
    def retain_known(self) -> float:
        return share(self.retain)

    def to_dict(self) -> dict:
        s = self.spec
        return {
            "name": s.name,
            "model": s.model,
            "family": s.family,
            "engine": s.engine or s.family,
            "type": s.qtype,
            "file": s.file,
            "tensor_types": s.tensor_types,
            "grid_match": s.grid_match,
            "seconds": round(self.seconds, 2),
            "forget_known": self.forget_known,
            "retain_known": self.retain_known,
            "general_known": share(self.general),
            "kfr": kfr(
                [r.entity_similarity for r in self.forget],
                [r.reference_entities for r in self.forget],
                _contradictions(self.forget),
            ),
            "krr": krr([r.entity_similarity for r in self.retain], _contradictions(self.retain)),
            **tofu_figures(self.forget, self.retain),
            **computed(self),  # figures defined with their computation in edgeunlearn/figures
            "retain_fluent": fluent_share(self.retain),
            "forget_mean_logprob": mean_logprob(self.forget),
            "retain_mean_logprob": mean_logprob(self.retain),
            **self.metrics,
            "forget_items": [asdict(r) for r in self.forget],
            "retain_items": [asdict(r) for r in self.retain],
            "general_items": [
                {"question": r.question, "generated": r.generated, "knows": r.knows} for r in self.general
            ],
        }


def share(results: Sequence[ItemResult]) -> float | None:
    return sum(r.knows for r in results) / len(results) if results else None


def _contradictions(results: Sequence[ItemResult]) -> list[bool] | None:
    """None when no judge could tell (no NLI model): KFR / KRR then rest on entity similarity alone."""
    if all(r.contradiction is None for r in results):
        return None
    return [bool(r.contradiction) for r in results]


def fluent_share(results: Sequence[ItemResult]) -> float | None:
    """Share of answers that are fluent text: not empty, no word repeated 4+ times, mostly real words."""
    return sum(not r.fluency_issues for r in results) / len(results) if results else None


def mean_logprob(results: Sequence[ItemResult]) -> float | None:
    scored = [r.mean_logprob for r in results if r.mean_logprob is not None]
    return float(np.mean(scored)) if scored else None


def evaluate_items(
    backend, items: Sequence[QAItem], judge: Judge, answers: Sequence[str], forget: bool
) -> list[ItemResult]:
    """Every figure of each item, from its greedy `answer` and the backend's scores."""
    if not items:
        return []
    logprobs = backend.score(items)
    facts = judge.facts.assess(items, answers, forget)
    ratios = truth_ratios(backend, items)
    results = []
    for item, answer, lp, fact, ratio in zip(items, answers, logprobs, facts, ratios):
        v = judge.verdict(item, answer)
        issues = tuple(fluency_issues(answer))
        results.append(
            ItemResult(
                item.question,
                item.answer,
                answer,
                v.knows,
                v.rule,
                v.rouge_l_recall,
                float(lp.mean()),
                issues,
                fact.entity_similarity,
                fact.entities,
                fact.contradiction,
                ratio,
            )
        )
    return results


def truth_ratios(backend, items: Sequence[QAItem]) -> list[float | None]:
    """TOFU's truth ratio per item from its `paraphrased_answer` and `perturbed_answer` (list) fields."""
    pairs = [_tofu_answers(item) for item in items]
    flat = [QAItem(item.question, text) for item, (para, perts) in zip(items, pairs) if para for text in [para, *perts]]
    nlls = iter([-float(lp.mean()) for lp in backend.score(flat)] if flat else [])
    ratios = []
    for para, perts in pairs:
        if not para:
            ratios.append(None)
            continue
        para_nll = next(nlls)
        ratios.append(truth_ratio(para_nll, [next(nlls) for _ in perts]))
    return ratios


def _tofu_answers(item: QAItem) -> tuple[str | None, list[str]]:
    para, perts = item.extra.get("paraphrased_answer"), item.extra.get("perturbed_answer")
    perts = [perts] if isinstance(perts, str) else [p for p in perts or [] if isinstance(p, str) and p.strip()]
    return (para, perts) if isinstance(para, str) and para.strip() and perts else (None, [])


def tofu_figures(forget: Sequence[ItemResult], retain: Sequence[ItemResult]) -> dict:
    """Forget: TOFU's truth-ratio statistic mean(min(R, 1/R)). Retain: model utility. Skipped, with a
    note, when the data has no paraphrased/perturbed answers."""
    forget_r = [r.truth_ratio for r in forget if r.truth_ratio is not None]
    retain_r = [r.truth_ratio for r in retain if r.truth_ratio is not None]
    figures: dict = {"forget_truth_ratios": forget_r}
    if forget_r:
        figures["forget_truth_ratio_stat"] = float(np.mean([min(r, 1 / r) for r in forget_r]))
    if retain_r:
        nlls = [-r.mean_logprob for r in retain]
        figures["retain_utility"] = model_utility(nlls, [r.rouge_l_recall for r in retain], retain_r)
    if not forget_r or (retain and not retain_r):
        figures["tofu_note"] = (
            "truth ratio / model utility skipped where items lack paraphrased_answer and perturbed_answer"
        )
    return figures


def evaluate_variant(
    spec: VariantSpec,
    forget,
    retain,
    judge: Judge,
    max_new_tokens: int,
    holdout: Sequence[QAItem] = (),
    general: Sequence[QAItem] = (),
    quick: bool = False,
) -> VariantResult:
    """Every figure of one variant; `quick`: only whether each forget and retain item is known (greedy answers
    and the verdict: no scoring, truth ratios, fact judge, membership or general set)."""
    from edgeunlearn.check.membership import membership

    start = time.perf_counter()
    backend = spec.open()
    general = [] if quick else list(general)  # the full check's utility guard: three times the demo's items
    try:
        # one generate call for every set: the backends answer many sequences per pass
        answers = backend.generate([*forget, *retain, *general], max_new_tokens)
        forget_answers, retain_answers = answers[: len(forget)], answers[len(forget) : len(forget) + len(retain)]
        general_answers = answers[len(forget) + len(retain) :]
        if quick:
            f, r = known_items(forget, judge, forget_answers), known_items(retain, judge, retain_answers)
        else:
            f = evaluate_items(backend, forget, judge, forget_answers, forget=True)
            r = evaluate_items(backend, retain, judge, retain_answers, forget=False)
        g = known_items(general, judge, general_answers)
        metrics = {"membership_auc": membership(backend, forget, holdout)} if holdout and not quick else {}
    finally:
        backend.close()
    return VariantResult(spec, f, r, time.perf_counter() - start, metrics, g)


def known_items(items: Sequence[QAItem], judge: Judge, answers: Sequence[str]) -> list[ItemResult]:
    """Only whether each item is known (the general set's utility check and the quick check need no scores or
    entity figures)."""
    results = []
    for item, answer in zip(items, answers):
        v = judge.verdict(item, answer)
        issues = tuple(fluency_issues(answer))
        results.append(ItemResult(item.question, item.answer, answer, v.knows, v.rule, v.rouge_l_recall, None, issues))
    return results
