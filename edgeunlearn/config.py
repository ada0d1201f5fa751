"""Run configuration: frozen dataclasses with defaults and help, loaded from YAML/TOML recipes.

The command line wins over the recipe; unknown keys in a recipe are an error, never dropped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from edgeunlearn.errors import UserError

AUGMENT_KINDS = ("rephrased", "specific", "noisy", "reversed")
DEFAULT_LLAMACPP_TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")


def _opt(default, help: str):
    if isinstance(default, (list, dict, tuple)):
        return field(default_factory=lambda: default, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    steps: int = _opt(40, "optimizer steps")
    batch_size: int = _opt(4, "sequences per micro-batch (forget and retain each)")
    grad_accum: int = _opt(1, "micro-batches per optimizer step")
    learning_rate: float = _opt(2e-4, "AdamW learning rate")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    lora_rank: int = _opt(8, "LoRA rank")
    lora_scale: float = _opt(20.0, "LoRA scale (mlx-lm's `scale`, not alpha)")
    lora_dropout: float = _opt(0.0, "LoRA dropout")
    lora_layers: int = _opt(-1, "how many of the last transformer blocks get LoRA (-1: all)")
    lora_keys: tuple[str, ...] = _opt(
        (), "projections that get LoRA, e.g. self_attn.q_proj (empty: every projection of the architecture)"
    )
    forget_focus: str = _opt(
        "answer",
        "forget-loss tokens: answer (every answer token), or keywords (only the tokens that spell an item's "
        "keywords, so the answer's shape, shared with what must be kept, is not pushed down)",
    )
    checkpoint_every: int = _opt(0, "save the adapter every N steps (0: only at the end)")
    base_precision: str = _opt(
        "fp32",
        "the base's weights while training: fp32, bf16, q8 or q4 (MLX affine, group 64); the export still fuses "
        "into the original full-precision weights",
    )
    grad_checkpoint: bool = _opt(
        False,
        "recompute each block's activations in the backward pass (less memory); always on for a reduced "
        "base_precision on CPU, whose fp32 widening of the weights would otherwise be kept",
    )
    sure: bool = _opt(False, "SURE: train only the output rows most salient for the forget loss")
    sure_percentile: float = _opt(90.0, "SURE: keep rows whose saliency is at or above this percentile")
    robust_to: tuple[str, ...] = _opt(
        (),
        "llama.cpp types whose stored weights training sees (fake quantization of the fused weights, "
        "straight-through); `auto`: the base's own type plus every type the run checks",
    )
    until: bool = _opt(False, "stop rule: stop once forgetting holds at full precision and every robust_to type")
    until_every: int = _opt(5, "stop rule: answer the forget and watched retain items every N steps")
    until_tokens: int = _opt(24, "stop rule: length of the greedy answers it judges (as the check's max_new_tokens)")
    until_retain_watch: float = _opt(
        0.25,
        "stop rule: share of --retain set aside from a retain term's training for the rule to watch "
        "(knowledge the loss never fits)",
    )
    until_general: bool = _opt(
        True,
        "stop rule: also watch the built-in general-knowledge set (35 facts, minus any sharing a keyword with "
        "the forget set), which no training loss fits",
    )
    until_forget: float = _opt(1.0, "stop rule: share of forget items that must be forgotten at every type")
    until_retain_floor: float = _opt(
        0.9,
        "stop rule: a check counts only when, under every type, the model states at least this share of as many "
        "watched retain and general facts as the base does",
    )
    snap_gains: tuple[float, ...] = _opt(
        (1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0),
        "for a base that came quantized and a robust_to list holding its own type, with the stop rule on: after "
        "training, the LoRA'd matrices are written on the base's grid as fq(W0 + g·update), g the smallest of "
        "these gains at which the rule's check passes under every form (empty: never)",
    )
    until_base_grid: bool = _opt(
        False,
        "stop rule, with a snap: also judge the base's own type as re-quantizing stores the unsnapped weights, so "
        "training goes on (with its retain term) until the forgetting survives that grid, before a gain is chosen",
    )
    until_patience: int = _opt(
        0, "stop rule: stop after this many checks in a row below the retain floor (0: never stop for it)"
    )


@dataclass(frozen=True)
class MethodArgs:
    beta: float = _opt(0.1, "NPO inverse temperature β")
    retain_weight: float = _opt(1.0, "weight of the retain NLL term")
    divergence: str = _opt("tv", "FLAT f-divergence (tv, kl, js, pearson, reverse_kl, jeffrey, ...)")
    template: str = _opt("refusal", "FLAT template answers: refusal, or relearn (ReLearn's vague answers)")
    simnpo_beta: float = _opt(2.5, "SimNPO inverse temperature β")
    gamma: float = _opt(0.0, "SimNPO margin γ")


@dataclass(frozen=True)
class AugmentConfig:
    generator: str = _opt(
        "self", "who writes the variants: `self` (the model being unlearned), a model path, or `templates`"
    )
    kinds: tuple[str, ...] = _opt(AUGMENT_KINDS, "question variant kinds: " + ", ".join(AUGMENT_KINDS))
    per_kind: int = _opt(1, "variants of each kind per forget item")
    attempts: int = _opt(3, "model attempts (each a different instruction) before the template fallback")
    completions: bool = _opt(True, "add completion items: an answer's first quarter as prompt, the rest as target")
    max_new_tokens: int = _opt(48, "length of the model's outputs")
    data: str | None = _opt(None, "augmented JSONL to train on instead of generating (e.g. an edited `augment` output)")


@dataclass(frozen=True)
class QuantizeConfig:
    types: tuple[str, ...] = _opt(DEFAULT_LLAMACPP_TYPES, "llama.cpp types (the base's own type is added)")
    mlx_bits: tuple[int, ...] = _opt((8, 4), "MLX affine quantization bit widths")
    base_type: bool = _opt(True, "add the base GGUF's own type (grid alignment check)")


@dataclass(frozen=True)
class CheckConfig:
    max_new_tokens: int = _opt(24, "greedy answer length in tokens")
    rouge_threshold: float = _opt(0.5, "ROUGE-L recall that counts as knowing an item without keywords")
    judge: str = _opt(
        "entity", "fact judge for KFR / KRR: entity (names), embedding (+ MiniLM cosine ≥ 0.8), nli (+ contradiction)"
    )
    nli_model: str | None = _opt(None, "judge nli: local BERT NLI folder (config id2label with contradiction)")
    general: bool = _opt(
        True, "also score the built-in general-knowledge set (never trained on) on every variant: a utility check"
    )
    relearn: int = _opt(
        0,
        "relearning attack: fine-tune the unlearned model this many steps on half the forget set, then check how "
        "much of the other half comes back at full precision and each llama.cpp type (0: off)",
    )
    relearn_lr: float = _opt(1e-4, "relearning attack: the attacker's learning rate (LoRA, rank and scale as train)")
    quick: bool = _opt(
        False,
        "quick check: only whether each forget and retain item is known and what quantization brings back "
        "(greedy answers; no scores, truth ratios, fact judge, membership, Linguistic Score or general set)",
    )


@dataclass(frozen=True)
class RevealConfig:
    bandit: str = _opt("neuralucb", "instruction chooser: neuralucb, linucb or random")
    budget: int = _opt(24, "instruction pulls per reveal")
    samples: int = _opt(3, "responses per pull (sampled)")
    temperature: float = _opt(0.8, "sampling temperature of the responses")
    max_new_tokens: int = _opt(48, "response length")
    keep: int = _opt(8, "pulls (best reward first) whose responses become forget data")
    min_relevance: float = _opt(0.3, "a response less similar than this to the target is dropped")
    dedupe_cosine: float = _opt(0.95, "a response this similar to a kept one is a duplicate")
    reward: str = _opt(
        "facts", "pull reward: facts (specific facts the samples agree on, relevance, diversity) or relevance_diversity"
    )
    agree: int = _opt(2, "a fact counts when at least this many of a pull's samples state it")
    expand: float = _opt(
        0.5,
        "share of the budget asked, once facts are found, with instructions that name them and ask for others",
    )


@dataclass(frozen=True)
class ReleaseConfig:
    rounds: int = _opt(3, "reveal → unlearn rounds at most")
    mode: str = _opt("loss", "loss: train each module with `method`; negate: learn the data, apply with −scale")
    negate_scale: float = _opt(1.0, "negate: λ, the module is applied with −λ")
    retain_module: bool = _opt(False, "negate: also learn the retain data in a module applied with +1")
    orthogonality: float = _opt(0.1, "λ_o of the O-LoRA loss Σ_i ‖A_iᵀ A_new‖² against earlier modules")
    stop_facts: int = _opt(3, "stop when a round's reveal finds fewer specific facts than this")
    retain_watch: float = _opt(
        0.25, "share of --retain (seeded) the rounds never train on: the retain guard watches it"
    )
    retain_floor: float = _opt(
        0.8,
        "undo a round (and stop) that leaves less than this share of what the base knew of the watched retain "
        "items or of the general facts (0: no guard)",
    )
    stop_relevance: float = _opt(0.35, "stop when the revealed relevance falls below this")
    max_minutes: float = _opt(0.0, "time budget for the loop (0: none); a round that would exceed it is not started")
    max_memory_mb: float = _opt(0.0, "MLX peak-memory budget (0: none); the loop stops after a round above it")


@dataclass(frozen=True)
class RunConfig:
    model: str = _opt("default", "model folder, GGUF file, or `default`")
    forget: str | None = _opt(None, "forget set file (demo:forget names the embedded demo set)")
    retain: str | None = _opt(None, "retain set file (demo:retain names the embedded demo set)")
    retain_eval: str | None = _opt(
        None, "held-out retain set that only the check reads (without it, a share of --retain is held out)"
    )
    retain_split: float = _opt(
        0.25,
        "without --retain-eval: share of --retain held out (seeded) for the check alone, so retention is scored on "
        "items training never saw (0: train on all of it and score those)",
    )
    holdout: str | None = _opt(None, "holdout set the model never trained on, for membership-inference AUC")
    reference: str | None = _opt(
        None,
        "retain model (fine-tuned without the forget set, e.g. by `edgeunlearn finetune`): forget quality, PrivLeak",
    )
    prompt_format: str = _opt(
        "auto",
        "how questions reach the model: chat (its chat template), completion (plain text, for base models; an "
        "item's `prompt` field when it has one), or auto (chat when the model has a template)",
    )
    method: str = _opt("npo_gd", "unlearning method")
    seed: int = _opt(0, "random seed")
    train: TrainConfig = field(default_factory=TrainConfig)
    method_args: MethodArgs = field(default_factory=MethodArgs)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)
    check: CheckConfig = field(default_factory=CheckConfig)
    reveal: RevealConfig = field(default_factory=RevealConfig)
    release: ReleaseConfig = field(default_factory=ReleaseConfig)


def load_recipe(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"recipe not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:
        raise UserError(
            f"recipe {path} is not valid {path.suffix[1:].upper() or 'YAML'}: {exc}".splitlines()[0]
        ) from exc
    if not isinstance(data, dict):
        raise UserError(f"recipe {path} must be a mapping of settings")
    return data


def build(cls, values: dict, where: str = "recipe"):
    """Make a (nested) config dataclass from a dict, refusing unknown keys and wrong shapes."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(f"unknown {where} key {unknown[0]!r}: valid keys are {', '.join(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        default = (
            known[name].default_factory()
            if known[name].default_factory is not dataclasses.MISSING
            else known[name].default
        )
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise UserError(f"{where} key {name!r} must be a mapping")
            kwargs[name] = build(type(default), value, f"{where} {name}")
        else:
            kwargs[name] = _coerce(value, known[name].type, f"{where} key {name!r}")
    return cls(**kwargs)


def _coerce(value, annotation: str, where: str):
    """`value` as the field's annotated type; anything that would only pass by accident (true as a number,
    2.5 as a step count, a list where a name belongs) is refused."""
    if annotation.startswith("tuple["):
        value = value.split(",") if isinstance(value, str) else value
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where} must be a list")
        element = annotation[len("tuple[") :].split(",")[0]
        return tuple(_scalar(v.strip() if isinstance(v, str) else v, element, f"{where} item") for v in value)
    if annotation == "str | None":
        return None if value is None else _scalar(value, "str", where)
    return _scalar(value, annotation, where)


def _scalar(value, kind: str, where: str):
    if kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"{where} must be true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise UserError(f"{where} must be text, got {value!r}")
        return value
    number = _number(value, where)
    if kind == "int":
        if number != int(number):
            raise UserError(f"{where} must be a whole number, got {value!r}")
        return int(number)
    return float(number)


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"{where} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise UserError(f"{where} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise UserError(f"{where} must be a finite number, got {value!r}")
    return number


def resolve(recipe: str | Path | None, overrides: dict) -> RunConfig:
    """Recipe values, then command-line overrides (None means 'not given')."""
    values = load_recipe(recipe) if recipe else {}
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.rpartition(".")
        target = values.setdefault(section, {}) if section else values
        target[name] = value
    return build(RunConfig, values)


def to_dict(config) -> dict:
    return dataclasses.asdict(config)
