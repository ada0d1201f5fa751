"""One forward pass for the prompt prefix a batch's rows share.

Chat-formatted items begin with the same tokens (the template's system prompt and role markers: about half of
each short item's tokens on SmolLM2). The transformer runs those once, for one row, and every row attends to
the same keys and values; gradients through them add up over the rows, exactly as when each row computed its
own copy. Used for training steps and batched scoring alike.
"""

from __future__ import annotations

import mlx.core as mx

MIN_SHARED = 4  # below this, a second pass costs more than it saves


class SharedPrefixCache:
    """One layer's keys and values: the shared prefix (one row), then each row's own tokens."""

    def __init__(self):
        self.keys = self.values = None
        self.offset = 0

    def update_and_fetch(self, keys: mx.array, values: mx.array):
        if self.keys is not None:
            rows = keys.shape[0]
            shared_k = mx.broadcast_to(self.keys, (rows, *self.keys.shape[1:]))
            shared_v = mx.broadcast_to(self.values, (rows, *self.values.shape[1:]))
            keys = mx.concatenate([shared_k, keys], axis=2)
            values = mx.concatenate([shared_v, values], axis=2)
        self.keys, self.values = keys, values
        self.offset = keys.shape[2]
        return keys, values

    def make_mask(self, n: int, return_array: bool = False, window_size: int | None = None):
        from mlx_lm.models.cache import create_attention_mask

        return create_attention_mask(n, self.offset, return_array, window_size)


def shares_prefix(model) -> bool:
    """Whether the model's layers keep plain key/value caches (sliding-window caches, as Gemma 3 makes,
    are left to the plain forward), and are not checkpointed (a recomputed block would not see the shared
    keys it stored in the cache the first time)."""
    from mlx_lm.models.cache import KVCache

    if getattr(type(model.layers[0]), "checkpointed", False):
        return False
    if not hasattr(model, "make_cache"):
        return True
    return all(type(c) is KVCache for c in model.make_cache())


def hidden_states(model, inputs: mx.array, prefix: int) -> mx.array:
    """The final hidden states (B, T − prefix, H) of the positions after `prefix`, which every row shares."""
    if prefix < MIN_SHARED or inputs.shape[0] < 2 or not shares_prefix(model):
        return model.model(inputs)[:, prefix:]
    cache = [SharedPrefixCache() for _ in model.layers]
    model.model(inputs[:1, :prefix], cache=cache)
    return model.model(inputs[:, prefix:], cache=cache)
