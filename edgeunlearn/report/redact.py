"""`--redact`: forget data is often the very thing that must not spread. Every item text (question,
reference answer, each model's answer) becomes an id; verdicts and figures stay."""

from __future__ import annotations

import copy

from edgeunlearn.report.data import SETS, ReportData

TEXT_FIELDS = ("question", "expected", "generated")


def redact(data: ReportData) -> ReportData:
    data = copy.deepcopy(data)
    for _, variant in data.all_variants():
        ids = {}
        for part in SETS:
            for index, item in enumerate(variant.get(f"{part}_items", []), start=1):
                ids[item["question"]] = f"{part} #{index}"
                item["question"] = f"{part} #{index}"
                item["expected"] = f"reference answer to {part} #{index}"
                item["generated"] = f"answer to {part} #{index} ({len(item['generated'].split())} words)"
        variant["recovered_questions"] = [ids.get(q, "item") for q in variant.get("recovered_questions", [])]
    return data
