"""Token batches for MLX: right-padded prompt+answer sequences with a mask on answer targets only."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass
class Batch:
    """One padded batch. `inputs`: (B, T) int32. `targets`/`mask`: (B, W) for the last W = T − `start`
    positions, the window where any row's answer is (logits elsewhere are never needed); `mask` is 1 on answer
    targets. `index` maps rows back to items (for per-item reference values such as ℓref)."""

    inputs: object
    targets: object
    mask: object
    index: list[int]
    ref_nll: object = None  # (B,) base model's summed answer NLL, for reference-relative methods
    ref_logprobs: object = None  # (B, W, V) base model's log-probs, for KL-to-reference terms
    start: int = 0  # the first position whose next token is an answer token in some row
    prefix: int = 0  # leading input tokens every row shares (≤ start), run once for all rows
    total_rows: int | None = None  # data parallel: the global batch's rows and answer tokens, which every
    total_tokens: float | None = None  # rank's share of a mean divides by (None: this batch's own)


def batch_rows(batch: Batch) -> int:
    """Rows a mean over sequences divides by: the global batch's under data parallelism."""
    return batch.total_rows if batch.total_rows is not None else batch.inputs.shape[0]


def batch_tokens(batch: Batch):
    """Answer tokens (mask weight) a mean over tokens divides by: the global batch's under data parallelism."""
    return batch.total_tokens if batch.total_tokens is not None else batch.mask.sum()


def shard(batch: Batch, rank: int, size: int) -> Batch:
    """Rank `rank`'s contiguous share of a global batch, its means still over the global batch."""
    import dataclasses

    import mlx.core as mx

    rows = batch.inputs.shape[0]
    lo, hi = rank * rows // size, (rank + 1) * rows // size
    pick = mx.arange(lo, hi)
    return dataclasses.replace(
        batch,
        inputs=batch.inputs[pick],
        targets=batch.targets[pick],
        mask=batch.mask[pick],
        index=batch.index[lo:hi],
        total_rows=rows,
        total_tokens=float(batch.mask.sum()),
    )


def make_batch(pairs: Sequence[tuple], index: Sequence[int], pad_id: int = 0) -> Batch:
    """`pairs`: (prompt ids, answer ids) or (prompt ids, answer ids, answer weights), the weights replacing
    the answer mask's ones (e.g. only the fact's own tokens)."""
    import mlx.core as mx
    import numpy as np

    seqs = [p[0] + p[1] for p in pairs]
    width = max(len(s) for s in seqs) - 1
    inputs = np.full((len(seqs), width), pad_id, dtype=np.int32)
    targets = np.full((len(seqs), width), pad_id, dtype=np.int32)
    mask = np.zeros((len(seqs), width), dtype=np.float32)
    for row, (pair, seq) in enumerate(zip(pairs, seqs)):
        inputs[row, : len(seq) - 1] = seq[:-1]
        targets[row, : len(seq) - 1] = seq[1:]
        weights = pair[2] if len(pair) > 2 else 1.0
        mask[row, len(pair[0]) - 1 : len(seq) - 1] = weights  # positions whose next token is an answer token
    start = min(len(p[0]) for p in pairs) - 1
    prefix = min(start, shared_length(inputs))
    return Batch(
        mx.array(inputs),
        mx.array(targets[:, start:]),
        mx.array(mask[:, start:]),
        list(index),
        start=start,
        prefix=prefix,
    )


def shared_length(rows) -> int:
    """How many leading tokens all rows of a (B, T) numpy array have in common."""
    same = (rows == rows[:1]).all(axis=0)
    return int(same.argmin()) if not same.all() else rows.shape[1]


def length_buckets(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped by similar length so batches carry little padding."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def endless_batches(pairs: Sequence[tuple], batch_size: int, seed: int, pad_id: int = 0) -> Iterator[Batch]:
    """Length-bucketed batches in a fresh seeded order each epoch, forever."""
    if not pairs:  # an empty epoch would spin forever without yielding
        raise ValueError("no training items: the data set is empty")
    rng = random.Random(seed)
    buckets = length_buckets([len(p[0]) + len(p[1]) for p in pairs], batch_size)
    while True:
        rng.shuffle(buckets)
        for bucket in buckets:
            yield make_batch([pairs[i] for i in bucket], bucket, pad_id)
