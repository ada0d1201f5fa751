"""The MLX backend: an mlx-lm model with switchable LoRA, batched scoring and greedy generation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from edgeunlearn.backends.base import Prompter, TokenStats, stats_from_logprobs
from edgeunlearn.data import QAItem
from edgeunlearn.training.batching import length_buckets, make_batch

SCORE_BATCH = 16
GENERATE_BATCH = 16


class MLXBackend:
    @classmethod
    def of(cls, source) -> MLXBackend:
        """The backend of a resolved model (ModelSource), in its prompt format."""
        return cls(source.mlx_dir, source.prompt_format)

    def __init__(self, model_dir: Path, prompt_format: str = "auto"):
        from mlx_lm import load

        from edgeunlearn.backends.mlx_fast import use_fast_activations

        use_fast_activations()
        self.model_dir = Path(model_dir)
        self.model, self.tokenizer = load(str(model_dir))
        self.prompter = Prompter(self.tokenizer, prompt_format)
        self.pad_id = self.tokenizer.pad_token_id or 0
        self.model.eval()
        self.base_precision = "fp32"
        self._full_weights: dict[str, np.ndarray] | None = None  # a reduced base's fused fp32 weights

    def reduce_base(self, precision: str, checkpoint: bool = False) -> None:
        """Train over a bf16 or quantized copy of the base (see mlx_memory), optionally with checkpointing."""
        from edgeunlearn.backends import mlx_memory

        widened = mlx_memory.reduce_base(self.model, precision)
        self.base_precision = precision
        # on CPU a reduced base computes through fp32 copies of its weights; kept for the backward pass they
        # cost more than an fp32 base (10.5 bytes/parameter measured for bf16): recomputing them is the point
        if checkpoint or widened:
            mlx_memory.checkpoint_layers(self.model)

    # --- LoRA -------------------------------------------------------------------------------
    def add_lora(self, rank: int, scale: float, dropout: float, keys: Sequence[str], num_layers: int) -> None:
        """Freeze the base and put LoRA on `keys` (e.g. "self_attn.q_proj"; none: every projection) in the last
        `num_layers`."""
        from mlx_lm.tuner.utils import linear_to_lora_layers

        from edgeunlearn.backends.mlx_fast import fast_lora_class
        from edgeunlearn.models import architectures

        config = json.loads((self.model_dir / "config.json").read_text())
        keys = architectures.lora_keys(architectures.for_model_type(config.get("model_type")), keys)
        self.model.freeze()
        layers = len(self.model.layers) if num_layers < 0 else num_layers
        config = {"rank": rank, "scale": scale, "dropout": dropout, "keys": list(keys)}
        linear_to_lora_layers(self.model, layers, config)
        fast = fast_lora_class()
        for layer in self.lora_layers():
            layer.__class__ = fast  # same parameters and fuse(); the update is added inside the product
        if not self.lora_layers():
            from edgeunlearn.errors import UserError

            raise UserError(f"no layer matched lora_keys {list(keys)}: use names like self_attn.q_proj, mlp.up_proj")

    def lora_layers(self) -> list:
        return [m for _, m in self.named_lora_layers()]

    def named_lora_layers(self) -> list[tuple[str, object]]:
        from mlx_lm.tuner.lora import LoRALinear

        return [(name, m) for name, m in self.model.named_modules() if isinstance(m, LoRALinear)]

    @contextmanager
    def lora_disabled(self):
        """The base model, from the same weights: LoRA's contribution is scaled to zero meanwhile."""
        layers = self.lora_layers()
        scales = [layer.scale for layer in layers]
        for layer in layers:
            layer.scale = 0.0
        try:
            yield self
        finally:
            for layer, scale in zip(layers, scales):
                layer.scale = scale

    def fuse_lora(self) -> None:
        """Fold every LoRA update into its base weight (in place, irreversible). Over a reduced base, `weights()`
        then gives the original fp32 weights plus the update; the MLX model computes with the reduced form."""
        from mlx.utils import tree_unflatten
        from mlx_lm.tuner.lora import LoRALinear

        if self.base_precision != "fp32":
            from edgeunlearn.backends import mlx_memory

            originals = mlx_memory.original_weights(self.model, self.model_dir)
            fused = mlx_memory.fused_full_precision(self.named_lora_layers(), originals)
            self._full_weights = {**originals, **fused}
        fused = [(name, m.fuse()) for name, m in self.model.named_modules() if isinstance(m, LoRALinear)]
        if fused:
            self.model.update_modules(tree_unflatten(fused))

    def weights(self) -> dict[str, np.ndarray]:
        """HF-named fp32 weights as numpy (after `fuse_lora`, the unlearned model's)."""
        import mlx.core as mx
        from mlx.utils import tree_flatten

        if self._full_weights is not None:
            return dict(self._full_weights)
        if self.base_precision != "fp32":
            from edgeunlearn.errors import RunError

            raise RunError("a reduced-precision base has no full-precision weights before fuse_lora()")

        return {k: np.array(v.astype(mx.float32)) for k, v in tree_flatten(self.model.parameters())}

    # --- scoring and generation -------------------------------------------------------------
    def score(self, items: Sequence[QAItem]) -> list[np.ndarray]:
        import mlx.core as mx

        from edgeunlearn.methods.terms import token_logprobs

        pairs = [self.prompter.pair(item) for item in items]
        out: list[np.ndarray] = [None] * len(items)
        for bucket in length_buckets([len(p) + len(a) for p, a in pairs], SCORE_BATCH):
            batch = make_batch([pairs[i] for i in bucket], bucket, self.pad_id)
            logprobs = np.array(mx.stop_gradient(token_logprobs(self.model, batch)))
            mask = np.array(batch.mask) > 0
            for row, i in enumerate(bucket):
                out[i] = logprobs[row][mask[row]]
        return out

    def score_stats(self, items: Sequence[QAItem]) -> list[TokenStats]:
        import mlx.core as mx

        from edgeunlearn.methods.terms import vocab_logprobs

        pairs = [self.prompter.pair(item) for item in items]
        out: list[TokenStats] = [None] * len(items)
        for bucket in length_buckets([len(p) + len(a) for p, a in pairs], SCORE_BATCH):
            batch = make_batch([pairs[i] for i in bucket], bucket, self.pad_id)
            logp = mx.stop_gradient(vocab_logprobs(self.model, batch))
            mask, targets = np.array(batch.mask) > 0, np.array(batch.targets)
            for row, i in enumerate(bucket):
                out[i] = stats_from_logprobs(np.array(logp[row])[mask[row]], targets[row][mask[row]])
        return out

    def generate(self, questions: Sequence[str | QAItem], max_new_tokens: int, temperature: float = 0.0) -> list[str]:
        """Greedy answers to questions or items (an item's `prompt` serves completion prompts); with
        `temperature` > 0, sampled (top-p 0.95; seed with mx.random.seed)."""
        from mlx_lm.generate import batch_generate
        from mlx_lm.sample_utils import make_sampler

        prompts = [self.prompter.prompt_ids(q) for q in questions]
        sampler = make_sampler(temp=temperature, top_p=0.95) if temperature > 0 else None
        answers: list[str] = []
        for start in range(0, len(prompts), GENERATE_BATCH):
            chunk = prompts[start : start + GENERATE_BATCH]
            result = batch_generate(self.model, self.tokenizer, chunk, max_tokens=max_new_tokens, sampler=sampler)
            answers += [text.strip() for text in result.texts]
        return answers

    def close(self) -> None:
        self.model = None


def open_mlx(
    model_dir: Path, weights: dict[str, np.ndarray] | None = None, bits: int | None = None, prompt_format: str = "auto"
) -> MLXBackend:
    """A fresh MLX model from `model_dir`, optionally with other (e.g. fused) weights, optionally quantized."""
    import mlx.core as mx

    backend = MLXBackend(model_dir, prompt_format)
    if weights is not None:
        backend.model.load_weights([(k, mx.array(v)) for k, v in weights.items()])
    if bits is not None:
        from edgeunlearn.quantize.mlx_affine import round_to_affine_grid

        round_to_affine_grid(backend.model, bits)
    return backend
