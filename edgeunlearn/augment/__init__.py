"""ReLearn's offline data augmentation: question variants, vague answers, completions, leak filter."""

from edgeunlearn.augment.build import Augmented, Record, augment
from edgeunlearn.augment.leaks import forbidden_terms, leaks
from edgeunlearn.augment.store import check_config, load_augmented, obtain, write_jsonl, write_summary

__all__ = [
    "Augmented",
    "Record",
    "augment",
    "check_config",
    "forbidden_terms",
    "leaks",
    "load_augmented",
    "obtain",
    "write_jsonl",
    "write_summary",
]
