"""One optimizer step of LoRA unlearning: draw micro-batches, average the method's gradients over them (and
over data-parallel ranks), mask them, update AdamW. The trainer and the benchmarks run this same step."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeunlearn.training.batching import length_buckets, make_batch


@dataclass
class Inputs:
    """What each micro-batch draws from: endless batch streams per role, plus what was computed once."""

    streams: dict
    ref_nll: object = None  # (N,) base NLL per forget item, indexed by the batch's rows
    templates: Callable | None = None  # forget-batch rows → the same questions with template answers
    reference: Callable | None = None  # context manager: the base model (LoRA off), for KL terms


class Step:
    """The method's loss and gradient, AdamW, optional SURE masks and a gradient reducer across ranks."""

    def __init__(self, model, method, args, learning_rate: float, weight_decay: float, masks=None, reduce=None):
        import mlx.nn as nn
        import mlx.optimizers as optim

        self.model, self.masks, self.reduce = model, masks, reduce
        self.optimizer = optim.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
        self.loss_and_grad = nn.value_and_grad(model, lambda m, b: method.loss(m, b, args)[0])

    def __call__(self, inputs: Inputs, micro_batches: int = 1) -> float:
        """One optimizer step over `micro_batches` draws; returns the (rank-averaged) loss."""
        import mlx.core as mx

        from edgeunlearn.training.sure import apply_masks

        collecting = gc.isenabled()
        gc.disable()  # building the step's graph allocates thousands of small objects: no collection passes
        try:
            loss, grads = self._accumulate(inputs, micro_batches)
            if self.reduce is not None:
                loss, grads = self.reduce(loss, grads)
            if self.masks is not None:
                grads = apply_masks(grads, self.masks)
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.trainable_parameters(), self.optimizer.state, loss)
        finally:
            if collecting:
                gc.enable()
        return float(loss)

    def _accumulate(self, inputs: Inputs, micro_batches: int):
        import mlx.core as mx
        from mlx.utils import tree_map

        total_loss, total_grads = 0.0, None
        for _ in range(micro_batches):
            loss, grads = self.loss_and_grad(self.model, draw(self.model, inputs))
            total_loss = total_loss + loss
            total_grads = grads if total_grads is None else tree_map(mx.add, total_grads, grads)
        if micro_batches == 1:
            return total_loss, total_grads
        return total_loss / micro_batches, tree_map(lambda g: g / micro_batches, total_grads)


def draw(model, inputs: Inputs) -> dict:
    """One micro-batch per stream, with its template answers, ℓref rows and reference log-probs attached."""
    import mlx.core as mx

    from edgeunlearn.methods.terms import vocab_logprobs

    batches = {name: next(stream) for name, stream in inputs.streams.items()}
    if inputs.templates is not None:
        batches["template"] = inputs.templates(batches["forget"].index)
    if inputs.reference is not None:
        with inputs.reference():  # the base model: same weights, LoRA scaled to zero
            batches["retain"].ref_logprobs = mx.stop_gradient(vocab_logprobs(model, batches["retain"]))
    if inputs.ref_nll is not None:
        batches["forget"].ref_nll = inputs.ref_nll[mx.array(batches["forget"].index)]
    return batches


def reference_nll(backend, pairs, batch_size: int = 16):
    """ℓref per forget item: the base model's summed answer NLL, computed once with LoRA off. (N,)"""
    import mlx.core as mx

    from edgeunlearn.methods.terms import sequence_nll

    values = np.zeros(len(pairs), dtype=np.float32)
    with backend.lora_disabled():
        for bucket in length_buckets([len(p[0]) + len(p[1]) for p in pairs], batch_size):
            batch = make_batch([pairs[i] for i in bucket], bucket, backend.pad_id)
            values[bucket] = np.array(mx.stop_gradient(sequence_nll(backend.model, batch)))
    return mx.array(values)
