"""From per-variant results to the figures people read: knowledge kept, recovery, grid alignment."""

from __future__ import annotations

from collections.abc import Sequence

from edgeunlearn.check.evaluate import VariantResult, share

FULL_PRECISION = ("fp32", "F32", "F16", "BF16")


def reference_variant(results: Sequence[VariantResult], model: str, family: str) -> VariantResult | None:
    """What `model`'s variants are compared with: its full-precision variant in `family`, else in any
    family, else the first one checked (a quantized GGUF given as it is)."""
    own = [r for r in results if r.spec.model == model]
    full = [r for r in own if r.spec.qtype in FULL_PRECISION]
    same_family = [r for r in full if r.spec.family == family]
    return (same_family or full or own or [None])[0]


def same_type_base(results: Sequence[VariantResult], variant: VariantResult) -> VariantResult | None:
    """The base stored the way `variant` is (same family and type), or None."""
    s = variant.spec
    return next(
        (r for r in results if r.spec.model == "base" and r.spec.family == s.family and r.spec.qtype == s.qtype), None
    )


def recovery(
    variant: VariantResult,
    unlearned_fp: VariantResult,
    base_fp: VariantResult | None,
    base_same: VariantResult | None = None,
) -> dict:
    """Facts that come back: the base knew them and the unlearned model forgot them at full precision, and at
    `variant`'s type the unlearned model knows them again while the base at that type (`base_same`, when
    checked) knows them too — a fact the quantized base itself lost is not the unlearning's to lose."""
    forgotten = [
        i
        for i, item in enumerate(unlearned_fp.forget)
        if not item.knows and (base_fp is None or base_fp.forget[i].knows)
    ]
    recovered = [i for i in forgotten if variant.forget[i].knows and (base_same is None or base_same.forget[i].knows)]
    return {
        "forgotten_at_full_precision": len(forgotten),
        "recovered": len(recovered),
        "recovery_rate": len(recovered) / len(forgotten) if forgotten else None,
        "recovered_questions": [variant.forget[i].question for i in recovered],
    }


def summarize(results: Sequence[VariantResult], source_type: str | None) -> dict:
    rows = []
    for r in results:
        row = r.to_dict()
        base_fp = reference_variant(results, "base", r.spec.family)
        if base_fp is not None and r is not base_fp:
            row["forget_kept_vs_base"] = _ratio(r.forget_known, base_fp.forget_known)
            row["retain_kept_vs_base"] = _ratio(r.retain_known, base_fp.retain_known)
            row["general_kept_vs_base"] = _ratio(share(r.general), share(base_fp.general))
        unlearned_fp = reference_variant(results, r.spec.model, r.spec.family)
        if r.spec.model != "base" and unlearned_fp is not None and r is not unlearned_fp:
            base_same = same_type_base(results, r)
            row.update(recovery(r, unlearned_fp, base_fp, base_same))
            if base_same is not None:
                row["retain_kept_vs_base_same_type"] = _ratio(r.retain_known, base_same.retain_known)
                row["general_kept_vs_base_same_type"] = _ratio(share(r.general), share(base_same.general))
        rows.append(row)
    return {"source_type": source_type, "grid": grid_summary(results, source_type), "variants": rows}


def grid_summary(results: Sequence[VariantResult], source_type: str | None) -> dict:
    """Which types reproduce the base's own grid: re-quantizing there snaps small updates back onto it."""
    if not source_type:
        return {"base_from_quantized_gguf": False, "note": None}
    if source_type in FULL_PRECISION:
        return {"base_from_quantized_gguf": False, "note": "the base is full precision: no grid to snap back to"}
    match = {
        r.spec.qtype: r.spec.grid_match for r in results if r.spec.model == "base" and r.spec.grid_match is not None
    }
    shared = sorted(t for t, m in match.items() if m >= 0.99)
    if shared:
        note = (
            f"the base came from a {source_type} GGUF; {', '.join(shared)} reproduce{'s' if len(shared) == 1 else ''}"
            " its weights exactly, so small unlearning updates can round back to the base there"
        )
    else:
        note = f"the base came from a {source_type} GGUF; sweep {source_type} too to see if updates round back to it"
    return {
        "base_from_quantized_gguf": True,
        "source_type": source_type,
        "shares_grid": shared,
        "match": match,
        "note": note,
    }


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


RETAIN_FLOOR = 0.9  # a type whose retain falls below this share of the base at that type gets a warning


def verdicts(rows: Sequence[dict], robust_to: Sequence[str] = ()) -> list[dict]:
    """One line per quantized unlearned variant: do the forgotten facts stay forgotten there, and what to do."""
    out = []
    for row in rows:
        if row["model"] == "base" or row["type"] in FULL_PRECISION or row.get("forgotten_at_full_precision") is None:
            continue
        out.append({"type": row["type"], "recovered": row["recovered"], "line": verdict_line(row, robust_to)})
    return out


def verdict_line(row: dict, robust_to: Sequence[str] = ()) -> str:
    qtype, back, forgotten = row["type"], row["recovered"], row["forgotten_at_full_precision"]
    if forgotten == 0:
        line = f"{qtype}: nothing was forgotten at full precision, so nothing can come back"
    elif back == 0:
        line = f"{qtype}: forgetting holds — none of {forgotten} forgotten facts comes back"
    else:
        line = f"{qtype}: {back} of {forgotten} forgotten facts come back"
        if row["family"] != "llama.cpp":
            line += " (MLX's grid is not a --robust-to target)"
        elif qtype in robust_to:
            line += f" even with --robust-to {qtype} — train longer (a larger --steps budget)"
        else:
            line += f" — unlearn again with --robust-to {qtype}"
    kept = row.get("retain_kept_vs_base_same_type")
    if kept is not None and kept < RETAIN_FLOOR:
        line += f"; retain is {kept:.0%} of the base at {qtype}"
    return line
