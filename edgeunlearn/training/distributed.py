"""Data-parallel LoRA unlearning with `mx.distributed`, started by `mlx.launch`.

Every rank draws the same seeded global batches and takes its contiguous share of each; a mean inside a loss
divides by the global batch's rows or answer tokens (`Batch.total_rows` / `total_tokens`), so each rank's loss
is its part of the global loss and the summed gradients (`all_sum`) are exactly the global batch's. Rank 0
alone writes the run folder and prints. Preparation that writes shared caches (the model import, ReLearn's
augmentation) runs on rank 0 first; the others wait, then read what it wrote.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Ranks:
    group: object | None = None
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """Whether `mlx.launch` started this process (it sets MLX_RANK)."""
    return "MLX_RANK" in os.environ


@cache
def ranks() -> Ranks:
    """This process's place: a single process unless started by `mlx.launch`."""
    if not launched():
        return Ranks()
    import mlx.core as mx

    group = mx.distributed.init()
    return Ranks(group, group.rank(), group.size())


def barrier(r: Ranks) -> None:
    import mlx.core as mx

    if r.size > 1:
        mx.eval(mx.distributed.all_sum(mx.array(1.0), group=r.group))


@contextmanager
def main_rank_first(r: Ranks):
    """Rank 0 runs the block first (it may write caches); the other ranks run it after, reading them."""
    if not r.main:
        barrier(r)
    yield
    if r.main:
        barrier(r)


def sharded(stream, r: Ranks):
    """This rank's share of each global batch of `stream`."""
    from edgeunlearn.errors import UserError
    from edgeunlearn.training.batching import shard

    for batch in stream:
        rows = batch.inputs.shape[0]
        if rows < r.size:  # every rank sees the same global batch, so every rank stops here together
            raise UserError(
                f"a batch of {rows} row(s) cannot be shared by {r.size} ranks (the last of a set whose size "
                f"is not a multiple of train.batch_size): use fewer ranks or a batch size that divides the sets"
            )
        yield shard(batch, r.rank, r.size)


def gradient_sum(r: Ranks):
    """(loss, grads) → both summed over the ranks: each rank's part of the global batch's."""
    import mlx.core as mx
    from mlx.utils import tree_map

    def reduce(loss, grads):
        total = lambda a: mx.distributed.all_sum(a, group=r.group)  # noqa: E731
        return total(loss), tree_map(total, grads)

    return reduce
