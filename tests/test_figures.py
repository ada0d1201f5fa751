"""The figure registry: one definition per figure reaches results.json, the terminal table, compare and the
report; a new figure is one registration."""

from __future__ import annotations

import pytest

from edgeunlearn.check.evaluate import ItemResult, VariantResult, VariantSpec
from edgeunlearn.figures import FIGURES, ORDER, Figure, figures, register, render


def _result() -> VariantResult:
    items = [
        ItemResult("q1", "a", "Paris.", True, "keyword", 1.0, -0.1),
        ItemResult("q2", "a", "", False, "keyword", 0.0, -3.0, fluency_issues=("empty",)),
        ItemResult("q3", "a", "the the the the", False, "keyword", 0.0, -2.0, fluency_issues=("repeats",)),
        ItemResult("q4", "a", "Lyon.", False, "keyword", 0.0, -1.0),
    ]
    return VariantResult(VariantSpec("m fp32", "unlearned", "mlx", "fp32", lambda: None), items, [], 1.0)


def test_formats_by_hand():
    assert [render(0.5, "pct"), render(0.004, "p"), render(0.5, "p"), render(1 / 3, "3"), render(None, "2")] == [
        "50%",
        "4e-03",
        "0.50",
        "0.333",
        "–",
    ]


def test_every_figure_once_with_its_value_where_results_json_keeps_it():
    keys = [f.key for f in figures()]
    assert len(keys) == len(set(keys)) and {"kfr", "krr", "priv_leak", "forget_fluent"} <= set(keys)
    row = _result().to_dict()
    assert row["forget_fluent"] == 0.5  # 2 of 4 answers without fluency issues, computed by the figure's file
    auc = FIGURES.get("membership_auc")
    assert auc.value({"membership_auc": {"min_k_plus_plus": 0.7, "loss": 0.2}}) == 0.7 and auc.cell({}) == "–"


def test_a_new_figure_is_one_registration_and_appears_everywhere(tmp_path):
    from edgeunlearn.cli.ui import metrics_table
    from edgeunlearn.pipeline.compare import variant_cell

    longest = Figure(
        "longest_answer",
        "longest",
        "longest answer",
        "characters in the longest forget answer",
        ("longest_answer",),
        "0",
        compute=lambda result: max(len(r.generated) for r in result.forget),
    )
    register(longest)
    try:
        row = _result().to_dict()
        assert row["longest_answer"] == len("the the the the")  # 15, computed once, stored in results.json
        assert variant_cell(row)["longest_answer"] == 15  # compare carries it
        table = metrics_table({"variants": [{"name": "m fp32", **row}]})
        assert "longest" in [c.header for c in table.columns] and "15" in list(table.columns[-1].cells)
    finally:
        FIGURES._items.pop("longest_answer")
        ORDER.remove("longest_answer")
    with pytest.raises(ValueError, match="already registered"):
        register(FIGURES.get("kfr"))
