"""`augment`: write ReLearn's augmented forget data as JSONL people can read, edit and train on."""

from __future__ import annotations

from collections import Counter

import typer
from rich.table import Table

from edgeunlearn.cli import common as c
from edgeunlearn.cli.ui import RichProgress, console


def augment(
    forget: c.OptStr = c.ForgetOpt,
    model: c.OptStr = c.ModelOpt,
    generator: c.OptStr = typer.Option(
        None, "--generator", help="who writes the variants: self (--model), a model path, or templates"
    ),
    seed: c.OptInt = c.SeedOpt,
    config_path: c.OptPath = c.ConfigOpt,
    out: c.OptPath = c.OutOpt,
) -> None:
    """Question variants + vague answers + completions for ReLearn, leak-checked, labelled by source."""
    from edgeunlearn import config
    from edgeunlearn.augment import write_jsonl, write_summary
    from edgeunlearn.pipeline.inputs import check_augmentation, prepare
    from edgeunlearn.pipeline.training_data import augmented_data
    from edgeunlearn.runs import check_out_free, default_out, run_folder, write_manifest

    values = {"forget": forget, "model": model, "seed": seed, "augment.generator": generator, "augment.data": None}
    cfg = config.resolve(config_path, c.overrides(**values))
    out = out or default_out("augment")
    check_out_free(out)
    inputs = prepare(cfg, need_method=False)
    check_augmentation(cfg, inputs.forget)
    progress = RichProgress()
    try:
        progress.stage("augment forget data")
        result, _ = augmented_data(cfg, inputs)  # loads a model only when the data is not cached
        with run_folder(out) as folder:
            write_manifest(folder, "augment", config.to_dict(cfg), inputs.data_sha256, cfg.seed)
            write_jsonl(result, folder / "augmented.jsonl")
            write_summary(result, folder / "augmented.json")
    finally:
        progress.close()
    console.print(_counts_table(result.records))
    if result.dropped:
        console.print(f"[yellow]dropped[/] {len(result.dropped)} (reasons in {out}/augmented.json)")
    console.print(
        f"[green]wrote[/] {out}/augmented.jsonl ({len(result.records)} items). Edit it if you like, then train on it "
        f"with `edgeunlearn run RECIPE --augmented {out}/augmented.jsonl`."
    )


def _counts_table(records) -> Table:
    table = Table(title="augmented forget data: items by kind and source")
    for name in ("kind", "question from", "answer from", "items"):
        table.add_column(name, justify="right" if name == "items" else "left")
    counts = Counter((r.kind, r.question_source, r.answer_source) for r in records)
    for (kind, question, answer), n in sorted(counts.items()):
        table.add_row(kind, question, answer, str(n))
    return table


def register(app: typer.Typer) -> None:
    app.command("augment")(c.reports_errors(augment))
