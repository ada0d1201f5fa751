"""Fluency of the forget answers: a figure defined, computed and shown from this one file."""

from edgeunlearn.figures import Figure, register


def _fluent_share(result) -> float | None:
    """`result`: a VariantResult; each answer's fluency issues were found when it was checked."""
    answers = result.forget
    return sum(not r.fluency_issues for r in answers) / len(answers) if answers else None


register(
    Figure(
        "forget_fluent",
        "fluent",
        "fluent",
        "share of forget answers that are fluent text (not empty, no word repeated 4+ times, mostly real words)",
        ("forget_fluent",),
        "pct",
        terminal=False,
        compute=_fluent_share,
    )
)
