"""Wires the subcommands into one typer app. Subcommand modules import only typer/rich at the top;
torch, transformers and datasets are imported inside the commands that need them.

The console script builds only what a command line needs: ``instructkit dedupe ...`` builds the
``dedupe`` command alone (its Params class imported, its options generated), not all 20 (about 0.3 s
of start-up each time, paid by every stage in a Makefile). ``instructkit --help``, shell completion and
the hand-written commands build the whole app, which is also what ``from instructkit.cli.app import
app`` returns.
"""

from __future__ import annotations

import os
import sys

import typer

from instructkit import __version__

_APP_SETTINGS = dict(
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


def build_app(only: str | None = None) -> typer.Typer:
    """The typer app: every command, or only the stage command ``only`` (what the console script runs)."""
    from instructkit.cli import coerce
    from instructkit.cli.common import guard
    from instructkit.cli.stagecmd import make_command
    from instructkit.registry import stages

    coerce.install()  # plain types without pydantic (typer builds a TypeAdapter per parameter)
    app = typer.Typer(**_APP_SETTINGS)
    app.callback()(main)

    def add(name: str, fn) -> None:
        app.command(name, help=fn.__doc__)(guard(fn))

    for name, spec in stages().items():  # one generated command per registered stage (registry.py)
        if name not in _HAND_WRITTEN and only in (None, name):
            add(name, make_command(spec))
    if only is not None:
        return app
    from instructkit.cli import chat, env, hub, inspect, model, run

    add("run", run.run)
    add("chat", chat.chat)
    add("stats", inspect.stats)
    add("log", inspect.log)
    add("verify", inspect.verify)
    add("push", hub.push)
    add("env", env.env)
    app.add_typer(
        model.app, name="model", help="Build models for offline use: instructkit model tiny OUT | model get NAME OUT"
    )
    return app


_HAND_WRITTEN = {"model"}  # `model tiny|get` is a sub-app over the registered "model" stage
_FULL: list[typer.Typer] = []


def __getattr__(name: str):
    """``app``: the whole app, built on first use (``from instructkit.cli.app import app``)."""
    if name == "app":
        if not _FULL:
            _FULL.append(build_app())
        return _FULL[0]
    raise AttributeError(name)


def command_of(argv: list[str]) -> str | None:
    """The stage a command line runs (its first word after the global flags), or None: build everything."""
    if "_INSTRUCTKIT_COMPLETE" in os.environ:  # typer/click shell completion: every command
        return None
    from instructkit.registry import stages

    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in stages() and word not in _HAND_WRITTEN else None


def cli(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    argv = sys.argv[1:] if argv is None else argv
    build_app(command_of(argv))(args=argv, prog_name="instructkit")


if __name__ == "__main__":
    cli()
