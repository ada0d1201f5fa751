"""How long the offline fact judges take on 200 answers (issue target: ≤ 30 s on the 2-core box).

LD_PRELOAD=$(.venv/bin/python -m edgeunlearn.blas) .venv/bin/python benchmarks/judge.py
"""

import time

from edgeunlearn.data import load_items
from edgeunlearn.judges import make_judge
from edgeunlearn.metrics.knowledge import kfr
from edgeunlearn.pipeline.inputs import data_path

ANSWERS = 200


def main() -> None:
    items = (load_items(data_path("demo:forget")) + load_items(data_path("demo:retain"))) * 6
    items = items[:ANSWERS]
    # wrong answers (TOFU's perturbed ones): no reference entity is named, so every item goes to the encoder
    answers = [(i.extra.get("perturbed_answer") or [i.answer])[0] for i in items]
    for name in ("entity", "embedding"):
        start = time.perf_counter()
        judge = make_judge(name)  # the embedding judge loads MiniLM here: counted
        facts = judge.assess(items, answers)
        seconds = time.perf_counter() - start
        similarities = [f.entity_similarity for f in facts]
        rate = kfr(similarities, [f.entities for f in facts])
        print(f"{name:>9}: {len(items)} answers in {seconds:.2f} s (KFR over them {rate:.2f}, target ≤ 30 s)")


if __name__ == "__main__":
    main()
