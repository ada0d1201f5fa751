"""Forget / retain sets: loading, validation, and the project's own demo data."""

from edgeunlearn.data.load import QAItem, data_digest, load_items

__all__ = ["QAItem", "data_digest", "load_items"]
