"""ReLearn's Linguistic Score: fluency (perplexity under the original model) and lexical richness
(Brunet's index, Honoré's statistic), combined by a harmonic mean.

    BI = N ** (V ** -0.165)                      N tokens, V distinct tokens (lower = richer)
    HS = 100 · ln N / (1 − V1/V + 0.1)           V1 tokens seen once; capped at 1e6
    LS = hmean(1/(1+PPL), 1/(1+BI), HS/(1+HS))   over the per-answer averages of PPL, BI and HS

As in ReLearn's reference code, an answer without words still counts: Brunet 1000 and Honoré 0 (a collapsed
model that answers nothing is penalised, not left out); its perplexity is undefined and left out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from edgeunlearn.text import words

HONORE_CAP = 1e6
BRUNET_EMPTY = 1000.0  # ReLearn's value for an answer without words
HONORE_EMPTY = 0.0


def brunet_index(text: str) -> float:
    tokens = [w.casefold() for w in words(text)]
    if not tokens:
        return BRUNET_EMPTY
    return len(tokens) ** (len(set(tokens)) ** -0.165)


def honore_statistic(text: str) -> float:
    tokens = [w.casefold() for w in words(text)]
    if not tokens:
        return HONORE_EMPTY
    counts = Counter(tokens)
    once = sum(1 for n in counts.values() if n == 1)
    value = 100 * math.log(len(tokens)) / (1 - once / len(counts) + 0.1)
    return min(value, HONORE_CAP)


def perplexity(token_logprobs: Sequence[float]) -> float | None:
    """exp of the mean negative log-prob of the answer's tokens."""
    return math.exp(-sum(token_logprobs) / len(token_logprobs)) if len(token_logprobs) else None


def linguistic_score(ppls: Sequence[float | None], texts: Sequence[str]) -> dict:
    """The averages and LS; an answer without tokens is left out of the perplexity average only."""
    from statistics import harmonic_mean

    ppl = _mean(ppls)
    bi = _mean([brunet_index(t) for t in texts])
    hs = _mean([honore_statistic(t) for t in texts])
    parts = None if None in (ppl, bi, hs) else [1 / (1 + ppl), 1 / (1 + bi), hs / (1 + hs)]
    return {"ppl": ppl, "brunet": bi, "honore": hs, "ls": harmonic_mean(parts) if parts else None}


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None
