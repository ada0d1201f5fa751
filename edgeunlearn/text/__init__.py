"""Offline text analysis shared by augmentation and the checks: entities and fluency."""

from edgeunlearn.text.entities import entities, find_terms, words
from edgeunlearn.text.fluency import fluency_issues, is_fluent

__all__ = ["entities", "find_terms", "fluency_issues", "is_fluent", "words"]
