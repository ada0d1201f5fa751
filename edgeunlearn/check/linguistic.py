"""ReLearn's Linguistic Score on every checked variant: each answer's perplexity under the original
model (given its question), plus Brunet's index and Honoré's statistic of the answer text."""

from __future__ import annotations

from collections.abc import Sequence

from edgeunlearn.check.evaluate import VariantResult
from edgeunlearn.data import QAItem
from edgeunlearn.metrics.linguistic import linguistic_score, perplexity


def add_linguistic_scores(results: Sequence[VariantResult], original) -> None:
    """`original`: a backend holding the model before unlearning (its `score` gives token log-probs)."""
    for result in results:
        for part, items in (("forget", result.forget), ("retain", result.retain)):
            if not items:
                continue
            logprobs = original.score([QAItem(i.question, i.generated) for i in items])
            ppls = [perplexity(lp.tolist()) for lp in logprobs]
            result.metrics[f"{part}_linguistic"] = linguistic_score(ppls, [i.generated for i in items])
