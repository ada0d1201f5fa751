"""Unlearning methods: each is a loss function in a registry, one file per method named by its key.

A loss takes `(model, batches, args)` where `batches` has "forget" (and "retain" when the method needs
it) and returns `(loss, ntoks)`. `needs_reference` asks the trainer to compute the base model's
summed answer NLL per forget item once, before training, with LoRA switched off. `needs_template` batches a
template answer to each forget question beside it. A method that `needs_augmented` trains its "forget"
stream on ReLearn's augmented data (vague answers) instead of the forget facts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from edgeunlearn.registry import Registry


@dataclass(frozen=True)
class Method:
    name: str
    loss: Callable
    summary: str
    needs_retain: bool = False
    needs_reference: bool = False
    needs_template: bool = False  # a refusal answer per forget item, batched alongside it
    needs_retain_reference: bool = False  # base log-probs on each retain batch (LoRA off), for KL terms
    needs_augmented: bool | Callable = False  # ReLearn's augmented data; a callable decides from method_args
    check_args: Callable | None = None  # raises UserError on bad method_args
    focusable: bool = True  # the forget loss pushes the forget answers down, so `forget_focus` applies
    unlearns: bool = True  # False: a fine-tuning loss (`learn`), refused where unlearning is asked for

    def wants_augmented(self, args) -> bool:
        return self.needs_augmented(args) if callable(self.needs_augmented) else self.needs_augmented


METHODS: Registry[Method] = Registry("method")
_MODULES = ("ga", "gd", "npo", "npo_gd", "flat", "simnpo", "relearn", "learn")


def check_inputs(method: Method, has_retain: bool, args) -> None:
    """Refuse a run the method cannot do, before any work starts."""
    from edgeunlearn.errors import UserError

    if method.needs_retain and not has_retain:
        forget_only = ", ".join(n for n in method_names() if not METHODS.get(n).needs_retain)
        raise UserError(f"method {method.name!r} needs retain data: pass --retain FILE or pick one of {forget_only}")
    if method.check_args:
        method.check_args(args)


def require_unlearning(method: Method) -> None:
    """Refuse a fine-tuning loss where an unlearning run was asked for."""
    from edgeunlearn.errors import UserError

    if not method.unlearns:
        names = ", ".join(method_names())
        raise UserError(
            f"method {method.name!r} fine-tunes, it does not unlearn: use `edgeunlearn finetune`, or {names}"
        )


def register(method: Method) -> Method:
    return METHODS.register(method.name, method)


def get_method(name: str) -> Method:
    load_all()
    return METHODS.get(name)


def method_names() -> list[str]:
    """The unlearning methods (fine-tuning losses such as `learn` are registered but not listed)."""
    load_all()
    return [n for n in METHODS.names() if METHODS.get(n).unlearns]


def load_all() -> None:
    """Import each method module once; they register themselves (imports mlx)."""
    for module in _MODULES:
        importlib.import_module(f"edgeunlearn.methods.{module}")
