"""`reveal` (what does the model know about a target?) and `release` (unlearn it in orthogonal rounds)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from edgeunlearn.cli import common as c
from edgeunlearn.cli.ui import RichProgress, console, show_results, show_reveal, show_rounds
from edgeunlearn.errors import UserError

TargetOpt = typer.Option(
    ...,
    "--target",
    help='what must go, as you would say it: a topic, a name, a question or "everything about X" '
    '(e.g. "Jane Roe", "Where was Jane Roe born?"); the first line of output says what was understood',
)
SeedsOpt = typer.Option(None, "--seeds", help="questions on the target (one per line, or JSONL with `question`)")


def load_seeds(path: Path | None) -> list[str]:
    if path is None:
        return []
    if not path.is_file():
        raise UserError(f"seeds file not found: {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".jsonl":
        try:
            return [str(json.loads(line)["question"]) for line in lines]
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"seeds file {path}: every line needs a `question` ({exc})") from exc
    return lines


def _parse_target(text: str):
    """The target as understood (shown as the first line of output once the settings are checked)."""
    from edgeunlearn.reveal.target import parse_target

    try:
        target = parse_target(text)
    except ValueError:
        raise UserError(
            f'--target {text!r} names nothing: say what must go, e.g. --target "the capital of France"'
        ) from None
    return target


def _check_reveal_settings(cfg) -> None:
    from edgeunlearn.reveal.bandits import BANDITS
    from edgeunlearn.reveal.reward import REWARDS

    BANDITS.get(cfg.reveal.bandit)
    REWARDS.get(cfg.reveal.reward)
    if not 0 <= cfg.reveal.expand <= 1:
        raise UserError(f"reveal.expand is a share of the budget, in [0, 1], not {cfg.reveal.expand}: fix the recipe")


def reveal(
    target: str = TargetOpt,
    seeds: c.OptPath = SeedsOpt,
    model: c.OptStr = c.ModelOpt,
    seed: c.OptInt = c.SeedOpt,
    config_path: c.OptPath = c.ConfigOpt,
    out: c.OptPath = c.OutOpt,
    prompt_format: c.OptStr = c.PromptFormatOpt,
) -> None:
    """Reveal what the model knows about a target (bandit-chosen instructions); write it as JSONL to review."""
    from edgeunlearn import config
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.judges.encoder import SentenceEncoder
    from edgeunlearn.models.resolve import resolve_model
    from edgeunlearn.pipeline.release import write_revealed
    from edgeunlearn.reveal.reveal import reveal as run_reveal
    from edgeunlearn.runs import check_out_free, default_out, run_folder

    questions = load_seeds(seeds)
    cfg = config.resolve(config_path, c.overrides(model=model, seed=seed, prompt_format=prompt_format))
    _check_reveal_settings(cfg)
    out = out or default_out("reveal")
    check_out_free(out)
    parsed = _parse_target(target)
    source = resolve_model(cfg.model, cfg.prompt_format)
    console.print(f"[bold]{parsed.describe()}[/]")
    console.print(
        f"[bold cyan]▸ reveal: {cfg.reveal.budget} pulls × {cfg.reveal.samples} responses ({cfg.reveal.bandit})[/]"
    )
    revealed = run_reveal(MLXBackend.of(source), SentenceEncoder(), parsed, cfg.reveal, cfg.seed, 1, questions)
    if not revealed.items:
        raise UserError(
            f"the model reveals nothing specific about {parsed.about!r}: check the target, or pass --seeds with "
            "questions"
        )
    with run_folder(out) as folder:
        write_revealed(revealed, folder)
    show_reveal(revealed)
    facts = ", ".join(revealed.facts[:8])
    console.print(
        f"[green]revealed[/] {len(revealed.items)} items, {len(revealed.facts)} specific facts ({facts}) → "
        f"{out}/revealed.jsonl (review before `release`)"
    )


def release(
    target: str = TargetOpt,
    rounds: c.OptInt = typer.Option(None, "--rounds", help="reveal → unlearn rounds at most (default 3)"),
    seeds: c.OptPath = SeedsOpt,
    mode: c.OptStr = typer.Option(None, "--mode", help="loss (train with --method) or negate (learn, apply −λ)"),
    model: c.OptStr = c.ModelOpt,
    forget: c.OptStr = typer.Option(None, "--forget", help="held-out forget set: only the check reads it"),
    retain: c.OptStr = c.RetainOpt,
    method: c.OptStr = c.MethodOpt,
    seed: c.OptInt = c.SeedOpt,
    steps: c.OptInt = c.StepsOpt,
    types: c.OptStr = c.TypesOpt,
    config_path: c.OptPath = c.ConfigOpt,
    out: c.OptPath = c.OutOpt,
    robust_to: c.OptStr = c.RobustToOpt,
    until: bool | None = c.UntilOpt,
    retain_eval: c.OptStr = c.RetainEvalOpt,
    prompt_format: c.OptStr = c.PromptFormatOpt,
    resume: bool = c.ResumeOpt,
) -> None:
    """Reveal-and-Release: unlearn what the model reveals about a target, round by round, then check every type."""
    from edgeunlearn import config
    from edgeunlearn.pipeline.inputs import prepare_release
    from edgeunlearn.pipeline.release import run_release
    from edgeunlearn.runs import check_out_free, default_out, run_folder

    questions = load_seeds(seeds)
    values = {"model": model, "forget": forget, "retain": retain, "method": method, "seed": seed, "steps": steps}
    values.update({"types": types, "release.rounds": rounds, "release.mode": mode, "retain_eval": retain_eval})
    values.update({"robust_to": robust_to, "until": until, "prompt_format": prompt_format})
    cfg = config.resolve(config_path, c.overrides(**values))
    _check_reveal_settings(cfg)
    out = out or default_out("release")
    check_out_free(out)
    parsed = _parse_target(target)
    inputs = prepare_release(cfg)
    console.print(f"[bold]{parsed.describe()}[/]")
    progress = RichProgress()
    start = time.perf_counter()
    try:
        with run_folder(out, resumable=True, resume=resume) as folder:
            summary = run_release(cfg, inputs, parsed, questions, folder, progress)
            show_rounds(summary["rounds"])
            show_results(summary, folder)
    finally:
        progress.close()
    console.print(
        f"[green]done[/] in {time.perf_counter() - start:.0f} s → {out}/results.json, merged model in {out}/model"
    )


def register(app: typer.Typer) -> None:
    for command in (reveal, release):
        app.command(command.__name__)(c.reports_errors(command))
