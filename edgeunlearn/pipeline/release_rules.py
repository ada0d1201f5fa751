"""When the release loop stops: before a round (budget), after a reveal (too few facts, off the topic), or after
a round (it left too few of its facts still stated). The retain guard, which undoes a round, is
`edgeunlearn.pipeline.round_guard`."""

from __future__ import annotations

from edgeunlearn.config import RunConfig


def reveal_stop(cfg: RunConfig, revealed) -> str | None:
    """Why a reveal leaves nothing worth a round: too few specific facts, or answers off the topic. Whether
    the round's push costs too much is the retain guard's call, after it."""
    if not revealed.items:  # whatever stop_facts says, a round without items has nothing to train on
        return "the reveal kept no item"
    found = len(revealed.facts)
    if found < cfg.release.stop_facts:
        return f"{found} specific facts revealed < release.stop_facts {cfg.release.stop_facts}"
    if revealed.relevance < cfg.release.stop_relevance:
        return f"revealed relevance {revealed.relevance:.2f} < release.stop_relevance {cfg.release.stop_relevance}"
    return None


def left_stop(cfg: RunConfig, record) -> str | None:
    """Why no round follows this one: it left fewer of its facts still stated than `release.stop_facts`. Why:
    on the demo, round 1 took the held-out capitals to 0% and its own facts from 32 to 2 still stated; a
    second round there revealed 14-19 more (other cities, mostly made up), and training on them took the
    held-out retain set from 92% to 71% (83% to 62% with a quarter of --retain watched) while the guard's
    watched retain items and general facts did not move."""
    if record.still_revealed is not None and record.still_revealed < cfg.release.stop_facts:
        left, floor = record.still_revealed, cfg.release.stop_facts
        return f"{left} of its facts still revealed after it < release.stop_facts {floor}"
    return None


def budget_stop(cfg: RunConfig, records: list, elapsed: float) -> str | None:
    """Why the next round must not start: the last round's time or memory says it would break the budget."""
    last = records[-1]
    budget = cfg.release.max_minutes * 60
    if budget and elapsed + last.seconds > budget:
        return f"time budget: another round (~{last.seconds:.0f} s) would pass {cfg.release.max_minutes} min"
    if cfg.release.max_memory_mb and last.peak_memory_mb > cfg.release.max_memory_mb:
        return f"memory budget: the last round peaked at {last.peak_memory_mb:.0f} MB > {cfg.release.max_memory_mb} MB"
    return None
