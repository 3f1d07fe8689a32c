"""`instructkit run RECIPE.yaml`: run a recipe's stages with content-addressed caching."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import SetOpt, console, print_table


def run(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML (see recipes/quickstart.yaml).")],
    set_: SetOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and what would be skipped; run nothing.")
    ] = False,
    from_stage: Annotated[
        Optional[str], typer.Option("--from", help="Re-run this stage and every stage after it, even if cached.")
    ] = None,
    only: Annotated[
        Optional[str], typer.Option("--only", help="Run just this stage (earlier stages must have finished outputs).")
    ] = None,
) -> None:
    """Run a recipe: a named list of stages. A stage whose inputs' content and params are unchanged
    since the last run is skipped; a failed stage leaves earlier outputs intact and a re-run picks up
    from there.

    Stage params are the stage's Params field names, the same keys as its --set and --config
    (instructkit STAGE --list-params lists them). --set takes workdir=DIR, vars.NAME=VALUE or
    STAGE.PARAM=VALUE.

    Example: instructkit run recipes/quickstart.yaml --set sft.max_steps=20 --dry-run
    """
    from rich.markup import escape

    from instructkit.cli.stagecmd import print_result
    from instructkit.config import parse_sets
    from instructkit.recipe import Runner, load_recipe

    r = load_recipe(recipe, parse_sets(set_))
    runner = Runner(
        r, log=lambda msg: console.print(f"[bold cyan]{escape(msg)}[/]", soft_wrap=True), on_result=print_result
    )
    rows = runner.execute(dry_run=dry_run, from_stage=from_stage, only=only)
    print_table(
        f"recipe {r.name}" + (" (dry run)" if dry_run else ""),
        [(row["stage"], row["status"], row["output"]) for row in rows],
        ("stage", "status", "output"),
    )
    last = rows[-1]["output"] if rows else None
    if last and not dry_run:
        report = Path(last) / "report.md"
        console.print(f"[green]done.[/] Last output: {report if report.exists() else last}")
