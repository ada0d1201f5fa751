"""Options shared by every command (one vocabulary), and the error-to-exit-code mapping."""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from edgeunlearn.cli.ui import fail
from edgeunlearn.errors import RunError, UserError

ModelOpt = typer.Option(None, "--model", help="model folder, GGUF file, or `default` (SmolLM2-135M-Instruct)")
ForgetOpt = typer.Option(None, "--forget", help="forget set: .jsonl/.json/.csv or a saved datasets folder")
RetainOpt = typer.Option(None, "--retain", help='retain set, same formats ("" for none)')
MethodOpt = typer.Option(
    None,
    "--method",
    help="unlearning method: ga, gd, npo, npo_gd, flat, simnpo, relearn, relearn_gd, relearn_klr, relearn_klr_gdr",
)
SeedOpt = typer.Option(None, "--seed", help="random seed")
StepsOpt = typer.Option(None, "--steps", help="optimizer steps")
TypesOpt = typer.Option(None, "--types", help="comma-separated llama.cpp quantization types, e.g. Q8_0,Q4_K_M")
ConfigOpt = typer.Option(None, "--config", help="recipe (YAML or TOML) to start from")
AugmentedOpt = typer.Option(
    None, "--augmented", help="ReLearn: train on this augmented JSONL (from `edgeunlearn augment`, maybe edited)"
)
HoldoutOpt = typer.Option(
    None, "--holdout", help="items the model never trained on: forget-vs-holdout membership-inference AUC"
)
ReferenceOpt = typer.Option(
    None,
    "--reference",
    help="retain model folder (never saw the forget set; `edgeunlearn finetune`): forget quality, PrivLeak",
)
OutOpt = typer.Option(None, "--out", help="run folder to create (must not exist)")
RobustToOpt = typer.Option(
    None,
    "--robust-to",
    help="train against these llama.cpp types' stored weights so the forgetting holds there, e.g. Q4_1,Q4_K_M,Q4_0; "
    "`auto`: the base's own type plus every checked type",
)
UntilOpt = typer.Option(
    None,
    "--until/--no-until",
    help="stop once forgetting holds at full precision and every --robust-to type, or before retain falls below "
    "the floor (train.until_*); --steps is then the upper bound",
)
PromptFormatOpt = typer.Option(
    None,
    "--prompt-format",
    help="chat (the model's chat template), completion (plain prompts, for base models) or auto "
    "(default: chat when the model has a template)",
)
RetainEvalOpt = typer.Option(
    None, "--retain-eval", help="held-out retain set only the check reads (training never sees it)"
)

RelearnOpt = typer.Option(
    None,
    "--relearn",
    help="relearning attack: fine-tune the unlearned model N steps on half the forget set, report how much of "
    "the other half comes back at full precision and each type (recipe: check.relearn)",
)

BasePrecisionOpt = typer.Option(
    None,
    "--base-precision",
    help="the base's weights while training: fp32, bf16, q8 or q4 (less memory; the export still fuses into the "
    "original full-precision weights; recipe: train.base_precision)",
)
GradCheckpointOpt = typer.Option(
    None,
    "--grad-checkpoint/--no-grad-checkpoint",
    help="recompute each block's activations in the backward pass: less memory, ~1 more forward of compute "
    "(recipe: train.grad_checkpoint)",
)

QuickOpt = typer.Option(
    None,
    "--quick/--full-check",
    help="quick check: only whether each forget and retain item is known and what quantization brings back; no "
    "scores, truth ratios, fact judge, membership, Linguistic Score or general set (recipe: check.quick)",
)

ResumeOpt = typer.Option(
    False,
    "--resume",
    help="continue an interrupted run into the same --out: the parts it finished (compare: methods, release: "
    "rounds) under the same settings and data are kept, the rest run",
)

OptPath = Path | None
OptStr = str | None
OptInt = int | None


RESUME_HINT = " — what finished is kept: run the same command with --resume to continue"


def reports_errors(command):
    """Bad input → one line on stderr, exit 2; a failed run → exit 1. Nothing else escapes."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            fail(str(exc))
            raise typer.Exit(2) from None
        except RunError as exc:
            fail(str(exc) + (RESUME_HINT if "resume" in kwargs else ""))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            fail("interrupted" + (RESUME_HINT if "resume" in kwargs else ": nothing was written to --out"))
            raise typer.Exit(1) from None

    return wrapper


def overrides(**values) -> dict:
    """Command-line values keyed by their config path (None: not given)."""
    keys = {"steps": "train.steps", "types": "quantize.types", "augmented": "augment.data"}
    keys.update({"robust_to": "train.robust_to", "until": "train.until", "relearn": "check.relearn"})
    keys.update(quick="check.quick", base_precision="train.base_precision", grad_checkpoint="train.grad_checkpoint")
    return {keys.get(k, k): (str(v) if isinstance(v, Path) else v) for k, v in values.items()}
