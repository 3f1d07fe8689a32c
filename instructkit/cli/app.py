"""Wires the subcommands into one typer app. Subcommand modules import only typer/rich at the top;
torch, transformers and datasets are imported inside the commands that need them."""

from __future__ import annotations

import typer

from instructkit import __version__
from instructkit.cli import (
    chat,
    env,
    hub,
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
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every subcommand
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
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bars (they show only on a terminal anyway); errors only."
    ),
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        help="More logs: -v info (and the HF libraries' own bars), -vv debug. "
        "TRANSFORMERS_VERBOSITY / DATASETS_VERBOSITY, when set, win.",
    ),
) -> None:
    """instructkit command line."""
    if quiet or verbose:
        from instructkit.verbosity import set_level

        set_level(-1 if quiet else verbose)  # unset: INSTRUCTKIT_VERBOSITY from the environment, else 0
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
_add("chat", chat.chat)
_add("stats", inspect.stats)
_add("log", inspect.log)
_add("verify", inspect.verify)
_add("push", hub.push)
_add("env", env.env)
app.add_typer(
    model.app, name="model", help="Build models for offline use: instructkit model tiny OUT | model get NAME OUT"
)


def cli() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    cli()
