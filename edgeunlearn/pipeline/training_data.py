"""What a method trains on: the forget facts, or ReLearn's augmented data built from them (generated
with the local model, cached, or read from the user's file), plus template answers for FLAT."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeunlearn.augment import Augmented, obtain
from edgeunlearn.config import RunConfig
from edgeunlearn.data import QAItem
from edgeunlearn.data.templates import refusal_answers
from edgeunlearn.models.resolve import resolve_model, weights_identity
from edgeunlearn.pipeline.inputs import Inputs
from edgeunlearn.training.callbacks import Progress

NO_MODEL = "templates"


@dataclass(frozen=True)
class TrainingData:
    forget: list[QAItem]
    templates: list[QAItem] | None
    augmented: Augmented | None = None
    augmented_path: Path | None = None


def training_data(cfg: RunConfig, inputs: Inputs, backend, progress: Progress) -> TrainingData:
    from edgeunlearn.methods import get_method

    method = get_method(cfg.method)
    if not method.wants_augmented(cfg.method_args):
        return TrainingData(inputs.forget, _templates(cfg, inputs.forget, None))
    progress.stage("augment forget data (ReLearn)")
    augmented, path = augmented_data(cfg, inputs, backend)
    forget = augmented.items() if method.needs_augmented is True else inputs.forget
    return TrainingData(forget, _templates(cfg, inputs.forget, augmented), augmented, path)


def augmented_data(cfg: RunConfig, inputs: Inputs, backend=None) -> tuple[Augmented, Path]:
    """`backend`: the model being unlearned, before any LoRA, when the caller has it loaded (the generator
    for `self`). Any other generator is loaded only if the data is not cached."""
    spec = cfg.augment.generator
    if cfg.augment.data or spec == NO_MODEL:
        return obtain(inputs.forget, cfg.augment, cfg.seed, NO_MODEL, None)
    model = inputs.model if spec == "self" else resolve_model(spec)
    generate = backend.generate if spec == "self" and backend is not None else _loaded_on_first_call(model)
    return obtain(inputs.forget, cfg.augment, cfg.seed, weights_identity(model), generate)


def _loaded_on_first_call(model):
    """A generate function that loads `model` only when augmentation really has to generate."""
    loaded = []

    def generate(prompts: list[str], max_new_tokens: int) -> list[str]:
        if not loaded:
            from edgeunlearn.backends.mlx_backend import MLXBackend

            loaded.append(MLXBackend.of(model))
        return loaded[0].generate(prompts, max_new_tokens)

    return generate


def _templates(cfg: RunConfig, forget: list[QAItem], augmented: Augmented | None) -> list[QAItem]:
    """A template answer per forget item: a refusal, or (template: relearn) its vague answer, where the
    augmentation kept one for that item's own question, else a refusal."""
    refusals = refusal_answers(forget, cfg.seed)
    if cfg.method_args.template != "relearn" or augmented is None:
        return refusals
    vague = {r.of: r.answer for r in augmented.records if r.kind == "original"}
    return [QAItem(item.question, vague[n]) if n in vague else refusals[n - 1] for n, item in enumerate(forget, 1)]
