"""The Vendi score: the effective number of distinct items in a set (Friedman & Dieng, 2023).

For n items with a similarity matrix K (K_ii = 1, symmetric, positive semi-definite), the eigenvalues λ of
K / n sum to 1; VS = exp(−Σ λ log λ). Identical items give 1, mutually orthogonal items give n.
"""

from __future__ import annotations

import numpy as np


def vendi_score(similarity: np.ndarray) -> float:
    n = similarity.shape[0]
    if n == 0:
        return 0.0
    eigenvalues = np.linalg.eigvalsh(np.asarray(similarity, dtype=np.float64) / n)
    eigenvalues = eigenvalues[eigenvalues > 1e-12]  # 0 log 0 = 0; tiny negatives are rounding
    return float(np.exp(-np.sum(eigenvalues * np.log(eigenvalues))))


def embedding_vendi(unit_vectors: np.ndarray) -> float:
    """Vendi score of unit embeddings under cosine similarity, clipped at 0 (PSD: a Gram matrix)."""
    return vendi_score(unit_vectors @ unit_vectors.T) if len(unit_vectors) else 0.0
