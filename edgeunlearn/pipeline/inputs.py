"""Everything a run needs, validated before any slow work starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from edgeunlearn.config import CheckConfig, RunConfig
from edgeunlearn.data import QAItem, data_digest, load_items
from edgeunlearn.errors import UserError
from edgeunlearn.models.resolve import ModelSource, resolve_model

DEMO_PREFIX = "demo:"


def data_path(spec: str) -> Path:
    """A data file path; `demo:forget` / `demo:retain` name the embedded demo sets."""
    if spec.startswith(DEMO_PREFIX):
        name = spec.removeprefix(DEMO_PREFIX)
        path = Path(str(resources.files("edgeunlearn.data") / "demo" / f"{name}.jsonl"))
        if not path.exists():
            raise UserError(
                f"unknown demo set {spec!r}: use demo:forget, demo:retain, demo:retain_eval or demo:holdout"
            )
        return path
    return Path(spec).expanduser()


@dataclass(frozen=True)
class Inputs:
    model: ModelSource | None  # None for `check`, which takes models as given
    forget: list[QAItem]
    retain: list[QAItem]
    llama_types: list[str]
    mlx_bits: list[int]
    data_sha256: dict[str, str]
    holdout: list[QAItem] = field(default_factory=list)  # never trained on: membership-inference baseline
    reference: ModelSource | None = None  # retain model: forget quality and PrivLeak compare against it
    retain_eval: list[QAItem] = field(default_factory=list)  # held-out retain items only the check reads
    retain_split: dict | None = None  # which --retain items trained and which were held out for the check
    general: list[QAItem] = field(default_factory=list)  # built-in general knowledge, a utility check

    @property
    def checked_retain(self) -> list[QAItem]:
        """The retain items the check scores: the held-out set when given, else the training retain set."""
        return self.retain_eval or self.retain

    def retain_note(self) -> str:
        if self.retain_split:
            s = self.retain_split
            return (
                f"retain checked on {len(s['checked'])} items of --retain held out from training ({s['share']:.0%}, "
                f"seed {s['seed']}); training used the other {len(s['trained'])}"
            )
        if self.retain_eval:
            return f"retain checked on --retain-eval ({len(self.retain_eval)} items training never saw)"
        if not self.retain:
            return "no retain set"
        return "retain checked on the training retain set: pass --retain-eval FILE for items training never saw"


def split_retain(items: list[QAItem], share: float, seed: int) -> tuple[list[QAItem], list[QAItem], dict | None]:
    """(trained, held out, the split's record): a seeded `share` of the items held out, at least one on each
    side; no split for fewer than two items or share 0. Items are numbered from 1 as in the file."""
    import random

    if not 0 <= share < 1:
        raise UserError(f"retain_split must be in [0, 1), got {share}: e.g. 0.25 holds out a quarter of --retain")
    if share == 0 or len(items) < 2:
        return items, [], None
    held_count = min(len(items) - 1, max(1, round(share * len(items))))
    held = set(random.Random(seed).sample(range(len(items)), held_count))
    trained = [i for i in range(len(items)) if i not in held]
    record = {"share": share, "seed": seed, "trained": [i + 1 for i in trained], "checked": sorted(i + 1 for i in held)}
    return [items[i] for i in trained], [items[i] for i in sorted(held)], record


def retain_sets(cfg: RunConfig, retain: list[QAItem], hashes: dict[str, str]):
    """(training retain, checked retain, split record): --retain-eval when given, else a held-out share."""
    retain_eval = load_optional(cfg.retain_eval, "retain_eval", hashes)
    if retain_eval:
        return retain, retain_eval, None
    return split_retain(retain, cfg.retain_split, cfg.seed)


def check_relearn(check: CheckConfig) -> None:
    if check.relearn < 0 or not check.relearn_lr > 0:
        raise UserError("check.relearn must be ≥ 0 steps and check.relearn_lr > 0: fix the recipe or --relearn")


def general_set(cfg: RunConfig, forget: list[QAItem]) -> list[QAItem]:
    from edgeunlearn.data.general import general_knowledge

    return general_knowledge(forget) if cfg.check.general else []


def load_sets(forget: str | None, retain: str | None) -> tuple[list[QAItem], list[QAItem], dict[str, str]]:
    if not forget:
        raise UserError("no forget set: pass --forget FILE (or demo:forget for the embedded demo set)")
    forget_path = data_path(forget)
    items = load_items(forget_path, "forget")
    hashes = {"forget": data_digest(forget_path)}
    kept: list[QAItem] = []
    if retain:
        retain_path = data_path(retain)
        kept = load_items(retain_path, "retain")
        hashes["retain"] = data_digest(retain_path)
    return items, kept, hashes


def check_augmentation(cfg: RunConfig, forget: list[QAItem]) -> None:
    """Refuse a bad augment section, a leaking user file or a missing generator before any slow work."""
    from edgeunlearn.augment import check_config, load_augmented

    check_config(cfg.augment)
    if cfg.augment.data:
        load_augmented(Path(cfg.augment.data).expanduser(), forget)
    elif cfg.augment.generator not in ("self", "templates"):
        resolve_model(cfg.augment.generator)


def load_optional(spec: str | None, role: str, hashes: dict[str, str]) -> list[QAItem]:
    """An optional set (holdout, retain_eval): its items, its hash recorded; [] when not given."""
    if not spec:
        return []
    path = data_path(spec)
    hashes[role] = data_digest(path)
    return load_items(path, role)


def load_reference(spec: str | None, prompt_format: str = "auto") -> ModelSource | None:
    if not spec:
        return None
    if Path(spec).suffix.lower() == ".gguf":
        raise UserError(f"--reference {spec} is a GGUF file: give the retain model's folder (`edgeunlearn finetune`)")
    return resolve_model(spec, prompt_format)


def check_judge(check: CheckConfig) -> None:
    """Unknown judge, or an NLI folder missing or unreadable: refused before any slow work (the judge built
    here is the one the checks use later: `make_judge` keeps it)."""
    from edgeunlearn.judges import check_nli, make_judge

    check_nli(check.judge, check.nli_model)
    make_judge(check.judge, check.nli_model)


def quant_plan(cfg: RunConfig, source_type: str | None) -> tuple[list[str], list[int]]:
    from edgeunlearn.quantize.llamacpp import validate_types
    from edgeunlearn.quantize.mlx_affine import validate_bits

    types = list(cfg.quantize.types)
    if cfg.quantize.base_type and source_type and source_type not in ("F16", "F32", "BF16"):
        types.insert(0, source_type)
    return validate_types(types), validate_bits(cfg.quantize.mlx_bits)


def prepare(cfg: RunConfig, need_method: bool = True) -> Inputs:
    augmenting = False
    if need_method:
        from edgeunlearn.methods import check_inputs, get_method, require_unlearning

        method = get_method(cfg.method)
        require_unlearning(method)
        check_inputs(method, bool(cfg.retain), cfg.method_args)
        augmenting = method.wants_augmented(cfg.method_args)
    quant_plan(cfg, None)  # refuse bad types before the slow steps
    check_judge(cfg.check)
    check_relearn(cfg.check)
    forget, retain, hashes = load_sets(cfg.forget, cfg.retain)
    if cfg.check.relearn:
        from edgeunlearn.pipeline.relearn_attack import split_halves

        split_halves(forget, cfg.seed)  # a forget set too small to split is refused before any work
    if augmenting:
        check_augmentation(cfg, forget)
    model = resolve_model(cfg.model, cfg.prompt_format)
    types, bits = quant_plan(cfg, model.source_type)
    check_robust(cfg, model.source_type, types)
    holdout = load_optional(cfg.holdout, "holdout", hashes)
    retain, retain_eval, split = retain_sets(cfg, retain, hashes)
    reference = load_reference(cfg.reference, cfg.prompt_format)
    general = general_set(cfg, forget)
    return Inputs(model, forget, retain, types, bits, hashes, holdout, reference, retain_eval, split, general)


def check_robust(cfg: RunConfig, source_type: str | None, checked: list[str]) -> None:
    """Refuse bad --robust-to types and stop-rule settings before any slow work."""
    from edgeunlearn.training.robust import resolve_targets

    resolve_targets(cfg.train.robust_to, source_type, checked)
    t = cfg.train
    if t.until and (
        t.until_every < 1 or t.until_tokens < 1 or not 0 < t.until_forget <= 1 or not 0 <= t.until_retain_watch < 1
    ):
        raise UserError(
            "train.until needs until_every ≥ 1, until_tokens ≥ 1, 0 < until_forget ≤ 1 and "
            "0 ≤ until_retain_watch < 1: "
            "fix the recipe's train section"
        )
    check_training_shape(t)


def check_training_shape(t) -> None:
    """Refuse a forget focus or snap gains the trainer would not understand."""
    from edgeunlearn.training.focus import FOCUS_MODES

    if t.forget_focus not in FOCUS_MODES:
        raise UserError(f"train.forget_focus {t.forget_focus!r} is unknown: use {' or '.join(FOCUS_MODES)}")
    if any(not g > 0 for g in t.snap_gains):
        raise UserError(f"train.snap_gains must be positive numbers, got {list(t.snap_gains)}: fix the recipe")
    check_base_precision(t)


def check_base_precision(t) -> None:
    from edgeunlearn.backends.mlx_memory import PRECISIONS

    if t.base_precision not in PRECISIONS:
        raise UserError(f"train.base_precision {t.base_precision!r} is unknown: use {', '.join(PRECISIONS)}")
    if t.base_precision != "fp32" and (t.robust_to or t.sure):
        needs = "--robust-to" if t.robust_to else "train.sure"
        raise UserError(f"{needs} needs the fp32 base: drop train.base_precision {t.base_precision} or {needs}")


def prepare_release(cfg: RunConfig) -> Inputs:
    """Release's inputs: the forget set is optional and held out (only the check reads it)."""
    from edgeunlearn.data import data_digest
    from edgeunlearn.methods import check_inputs, get_method, require_unlearning
    from edgeunlearn.reveal.bandits import BANDITS

    if cfg.release.mode not in ("loss", "negate"):
        raise UserError(f"unknown release mode {cfg.release.mode!r}: choose loss or negate")
    if cfg.release.mode == "negate" and cfg.train.robust_to:
        raise UserError(
            "--robust-to works with release mode loss (a negated module is not stored as trained): drop one"
        )
    if cfg.train.base_precision != "fp32":
        raise UserError(
            f"release trains its rounds over the fp32 base: drop train.base_precision {cfg.train.base_precision}"
        )
    if cfg.release.rounds < 1:
        raise UserError(f"--rounds must be at least 1, not {cfg.release.rounds}")
    if not (0 <= cfg.release.retain_watch < 1 and 0 <= cfg.release.retain_floor <= 1):
        raise UserError(
            f"release.retain_watch must be in [0, 1) and release.retain_floor in [0, 1], got "
            f"{cfg.release.retain_watch} and {cfg.release.retain_floor}: fix the recipe"
        )
    BANDITS.get(cfg.reveal.bandit)
    if cfg.release.mode == "loss":
        method = get_method(cfg.method)
        require_unlearning(method)
        check_inputs(method, bool(cfg.retain), cfg.method_args)
        if method.wants_augmented(cfg.method_args):
            raise UserError(
                f"method {cfg.method!r} trains on ReLearn's augmented data, which release does not build: "
                "pick ga, gd, npo, npo_gd, simnpo or flat"
            )
    quant_plan(cfg, None)
    check_judge(cfg.check)
    sets = {role: data_path(spec) for role, spec in (("forget", cfg.forget), ("retain", cfg.retain)) if spec}
    items = {role: load_items(path, role) for role, path in sets.items()}
    model = resolve_model(cfg.model, cfg.prompt_format)
    types, bits = quant_plan(cfg, model.source_type)
    check_robust(cfg, model.source_type, types)
    hashes = {role: data_digest(path) for role, path in sets.items()}
    forget, retain = items.get("forget", []), items.get("retain", [])
    retain, retain_eval, split = retain_sets(cfg, retain, hashes)
    general = general_set(cfg, forget)
    return Inputs(model, forget, retain, types, bits, hashes, [], None, retain_eval, split, general)
