"""The figures people read, from hand-built check results: knowledge kept against the base, which variant is
each one's reference, the grid note and the per-type verdicts. Every expected value is counted by hand."""

from __future__ import annotations

from edgeunlearn.check.evaluate import ItemResult, VariantResult, VariantSpec
from edgeunlearn.check.summary import grid_summary, reference_variant, summarize, verdicts


def _variant(model, family, qtype, forget, retain, grid_match=None) -> VariantResult:
    spec = VariantSpec(f"{model} {qtype}", model, family, qtype, lambda: None, grid_match=grid_match)
    items = [ItemResult("q", "a", "g", bool(k), "keyword", 0.0, -1.0) for k in forget]
    kept = [ItemResult("q", "a", "g", bool(k), "keyword", 0.0, -1.0) for k in retain]
    return VariantResult(spec, items, kept, 0.0)


BASE_F16 = _variant("base", "llama.cpp", "F16", [1, 1, 1, 1], [1, 1, 1, 1])
BASE_Q4 = _variant("base", "llama.cpp", "Q4_1", [1, 1, 1, 0], [1, 1, 1, 0], grid_match=1.0)
BASE_Q8 = _variant("base", "llama.cpp", "Q8_0", [1, 1, 1, 1], [1, 1, 1, 1], grid_match=0.12)
UNL_MLX = _variant("unlearned", "mlx", "fp32", [0, 0, 0, 1], [1, 1, 1, 0])
UNL_F16 = _variant("unlearned", "llama.cpp", "F16", [0, 0, 0, 1], [1, 1, 0, 1])
UNL_Q4 = _variant("unlearned", "llama.cpp", "Q4_1", [1, 0, 1, 1], [1, 0, 0, 0])
ALL = [BASE_F16, BASE_Q4, BASE_Q8, UNL_MLX, UNL_F16, UNL_Q4]


def test_each_variant_is_compared_with_its_own_full_precision_variant():
    assert reference_variant(ALL, "unlearned", "llama.cpp") is UNL_F16  # same family first
    assert reference_variant(ALL, "unlearned", "mlx") is UNL_MLX
    assert reference_variant(ALL, "base", "mlx") is BASE_F16  # no MLX base: full precision of any family
    assert reference_variant([BASE_Q4, UNL_Q4], "base", "llama.cpp") is BASE_Q4  # a quantized GGUF as given
    assert reference_variant([BASE_F16], "unlearned", "mlx") is None


def test_knowledge_kept_and_recovery_by_hand():
    rows = {row["name"]: row for row in summarize(ALL, "Q4_1")["variants"]}
    assert "forget_kept_vs_base" not in rows["base F16"]  # the reference itself
    assert rows["base Q4_1"]["forget_kept_vs_base"] == 0.75  # 3 of 4 against 4 of 4
    # unlearned Q4_1: forget 3/4, retain 1/4 vs base F16 4/4 and 4/4
    q4 = rows["unlearned Q4_1"]
    assert (q4["forget_kept_vs_base"], q4["retain_kept_vs_base"]) == (0.75, 0.25)
    # forgotten at F16: items 0, 1, 2; back at Q4_1: item 0 and item 2, both known to the base at Q4_1
    assert (q4["forgotten_at_full_precision"], q4["recovered"]) == (3, 2)
    assert q4["recovery_rate"] == 2 / 3
    assert q4["retain_kept_vs_base_same_type"] == 1 / 3  # 1 of 4 against the base Q4_1's 3 of 4
    assert "recovered" not in rows["unlearned F16"] and "recovered" not in rows["unlearned fp32"]
    assert "recovered" not in rows["base Q4_1"]


def test_grid_note_names_the_types_that_reproduce_the_base():
    grid = grid_summary(ALL, "Q4_1")
    assert grid["shares_grid"] == ["Q4_1"] and grid["match"] == {"Q4_1": 1.0, "Q8_0": 0.12}
    assert "Q4_1 reproduces its weights exactly" in grid["note"]
    assert grid_summary([BASE_Q8], "Q4_1")["note"].endswith("sweep Q4_1 too to see if updates round back to it")
    assert grid_summary(ALL, "F16")["base_from_quantized_gguf"] is False
    assert grid_summary(ALL, None) == {"base_from_quantized_gguf": False, "note": None}


def test_one_verdict_per_quantized_unlearned_variant():
    rows = summarize(ALL, "Q4_1")["variants"]
    lines = verdicts(rows, ("Q4_1",))
    assert [v["type"] for v in lines] == ["Q4_1"]  # no line for the base or the full-precision variants
    assert lines[0]["line"] == (
        "Q4_1: 2 of 3 forgotten facts come back even with --robust-to Q4_1 — train longer (a larger --steps "
        "budget); retain is 33% of the base at Q4_1"
    )
