"""Wires the subcommands into one typer app. Subcommand modules import only typer/rich at the top;
torch, transformers and datasets are imported inside the commands that need them."""

from __future__ import annotations

import typer

from instructkit import __version__
from instructkit.cli import (
    inspect,
    model,
    run,
)
from instructkit.cli.common import guard

app = typer.Typer(
    name="instructkit",
    help="Curate instruction data and human feedback into datasets, and train aligned models on them.\n\n"
    "Pipeline: ingest -> dedupe -> filter -> annotate-export/import -> sft -> reward -> rlhf -> eval.\n\n"
    "Example: instructkit ingest data/samples/alpaca.json -o out/ingest && instructkit stats out/ingest",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"instructkit {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars (they show only on a terminal anyway)."),
) -> None:
    """instructkit command line."""
    if quiet:
        from instructkit.progress import set_quiet

        set_quiet()


def _add(name: str, fn) -> None:
    app.command(name, help=fn.__doc__)(guard(fn))


def _add_stages() -> None:
    """One generated command per registered stage (registry.py): flags from its Params fields."""
    from instructkit.cli.stagecmd import make_command
    from instructkit.registry import stages

    for name, spec in stages().items():
        if name not in _HAND_WRITTEN:
            _add(name, make_command(spec))


_HAND_WRITTEN = {"model"}  # `model tiny|get` is a sub-app over the registered "model" stage
_add_stages()
_add("run", run.run)
_add("stats", inspect.stats)
_add("log", inspect.log)
_add("verify", inspect.verify)
app.add_typer(model.app, name="model", help="Build models for offline use: instructkit model tiny OUT | model get NAME OUT")


def cli() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    cli()
