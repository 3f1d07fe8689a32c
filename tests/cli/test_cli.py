"""The command line: every --help works and the CLI does not import the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COMMANDS = [
    "ingest",
    "dedupe",
    "filter",
    "annotate-export",
    "annotate-import",
    "sft",
    "reward",
    "rlhf",
    "eval",
    "synth",
    "run",
    "stats",
    "log",
    "verify",
    "model",
    "model tiny",
]

# Runs --help of the app and of every subcommand in one fresh interpreter, then reports which heavy
# modules got imported and each exit code.
PROBE = """
import json, sys
from typer.testing import CliRunner
from instructkit.cli.app import app
runner = CliRunner()
codes = {}
for cmd in [""] + sys.argv[1:]:
    result = runner.invoke(app, cmd.split() + ["--help"])
    codes[cmd or "(root)"] = [result.exit_code, "Example" in result.output]
heavy = ("torch", "transformers", "datasets", "trl")
print(json.dumps({"codes": codes, "heavy": sorted(m for m in sys.modules if m.split(".")[0] in heavy)}))
"""


def test_help_everywhere_without_heavy_imports():
    proc = subprocess.run([sys.executable, "-c", PROBE, *COMMANDS], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [], f"--help imported {report['heavy']}"
    for cmd, (code, _) in report["codes"].items():
        assert code == 0, f"instructkit {cmd} --help exited {code}"
    assert report["codes"]["ingest"][1] and report["codes"]["(root)"][1]


@pytest.mark.parametrize("args", [["--help"], ["ingest", "--help"], ["--version"]])
def test_console_script(args):
    proc = subprocess.run([sys.executable, "-m", "instructkit", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert ("instructkit" in proc.stdout) and "Traceback" not in proc.stderr


def test_ingest_does_not_import_torch(tmp_path, samples):
    code = (
        "import sys; from instructkit.cli.app import app; "
        f"app(['ingest', {str(samples / 'alpaca.jsonl')!r}, '-o', {str(tmp_path / 'o')!r}], standalone_mode=False); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'datasets')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_error_is_one_line_with_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "instructkit", "ingest", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and "missing.jsonl" in proc.stderr
