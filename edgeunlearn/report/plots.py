"""The report's plots, drawn with matplotlib as inline SVG text (no files, no network)."""

from __future__ import annotations

import io

from edgeunlearn.report.data import ReportData

BASE_STYLE = {"color": "0.45", "linestyle": "--", "marker": "o"}
MARKERS = "sD^v<>pXh*"  # lines at the same value stay distinguishable by their markers


def type_order(data: ReportData) -> list[str]:
    """Quantization types in the order they were checked, full precision first."""
    seen: list[str] = []
    for _, variant in data.all_variants():
        if variant["type"] not in seen:
            seen.append(variant["type"])
    full = [t for t in ("fp32", "F32", "F16", "BF16") if t in seen]
    return full + [t for t in seen if t not in full]


def _series(variants: list[dict], types: list[str], key) -> list[float | None]:
    by_type = {v["type"]: key(v) for v in variants}
    return [by_type.get(t) for t in types]


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: the SVG sits inside HTML


def _figure(columns: int, width: float = 6.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9})
    return plt.subplots(1, columns, figsize=(width * columns, height), squeeze=False)


def knowledge_by_type(data: ReportData) -> str:
    """Share of forget / retain items still known, per quantization type: one line per model."""
    types = type_order(data)
    fig, axes = _figure(2)
    for ax, part in zip(axes[0], ("forget", "retain")):
        key = lambda v, p=part: None if v[f"{p}_known"] is None else 100 * v[f"{p}_known"]  # noqa: E731
        _lines(ax, data, types, key)
        ax.set_title(f"{part} set: items still known (%)")
        ax.set_ylim(-5, 105)
    axes[0][1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    return _svg(fig)


def _lines(ax, data: ReportData, types: list[str], key) -> None:
    ax.plot(types, _none_to_nan(_series(data.base, types, key)), label="base", **BASE_STYLE)
    for i, group in enumerate(data.groups):
        values = _none_to_nan(_series(group.variants, types, key))
        ax.plot(types, values, marker=MARKERS[i % len(MARKERS)], markersize=6 - 0.3 * i, label=group.label)
    ax.tick_params(axis="x", rotation=45)
    ax.grid(alpha=0.3)


def kfr_krr_heatmaps(data: ReportData) -> str:
    """KFR and KRR per model and type, as annotated heat maps (green is good for both)."""
    import numpy as np

    types = type_order(data)
    rows = [("base", data.base)] + [(g.label, g.variants) for g in data.groups]
    fig, axes = _figure(2, width=max(4.5, 0.7 * len(types) + 2), height=0.5 * len(rows) + 1.8)
    for ax, key, title in zip(axes[0], ("kfr", "krr"), ("KFR: forget items forgotten", "KRR: retain items kept")):
        values = np.array([_none_to_nan(_series(v, types, lambda r, k=key: r.get(k))) for _, v in rows], float)
        ax.imshow(values, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, "–" if np.isnan(value) else f"{100 * value:.0f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(types)), types, rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), [label for label, _ in rows])
        ax.set_title(title + " (%)")
    return _svg(fig)


def membership_by_type(data: ReportData) -> str | None:
    """Membership-inference AUC (min-k%++) per type; None when the run had no holdout set."""
    types = type_order(data)
    key = lambda v: (v.get("membership_auc") or {}).get("min_k_plus_plus")  # noqa: E731
    if all(key(v) is None for _, v in data.all_variants()):
        return None
    fig, axes = _figure(1, width=6.5)
    ax = axes[0][0]
    _lines(ax, data, types, key)
    ax.axhline(0.5, color="0.6", linewidth=1)
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("membership AUC, forget vs holdout (0.5: indistinguishable)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    return _svg(fig)


def _none_to_nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]
