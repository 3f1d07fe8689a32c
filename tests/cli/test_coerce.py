"""Start-up of a stage command: only that command is built, and option values are typed without pydantic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from instructkit.cli.coerce import _convert


def test_a_stage_command_line_builds_one_command_and_skips_pydantic(tmp_path, samples):
    code = (
        "import sys; from instructkit.cli.app import build_app, cli, command_of\n"
        "argv = ['-q', 'dedupe', sys.argv[1], '-o', sys.argv[2], '--mode', 'minhash', '--workers', '1',"
        " '--threshold', '0.75', '--fields', 'prompt', '--fields', 'response']\n"
        "assert command_of(argv) == 'dedupe' and command_of(['--help']) is None and command_of(['run', 'x']) is None\n"
        "import typer.main; print(sorted(typer.main.get_command(build_app('dedupe')).commands))\n"
        "try:\n    cli(argv)\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('pydantic' in sys.modules)"
    )
    ingest = subprocess.run(
        [sys.executable, "-m", "instructkit", "-q", "ingest", str(samples / "alpaca.json"), "-o", str(tmp_path / "in")],
        capture_output=True,
        text=True,
    )
    assert ingest.returncode == 0, ingest.stderr
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "in"), str(tmp_path / "out")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "['dedupe']" and lines[-1] == "False"
    manifest = (tmp_path / "out" / "v0001" / "manifest.json").read_text()
    assert '"threshold": 0.75' in manifest and '"response"' in manifest


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [("--workers", "two", "'two' is not an integer"), ("--threshold", "0.8x", "'0.8x' is not a number")],
)
def test_a_bad_value_names_the_flag_and_exits_2(tmp_path, flag, value, words):
    proc = subprocess.run(
        [sys.executable, "-m", "instructkit", "dedupe", str(tmp_path), "-o", str(tmp_path / "o"), flag, value],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and flag in proc.stderr and words in proc.stderr and "Traceback" not in proc.stderr


def test_convert_types_like_typer():
    assert _convert(int, " 3 ") == 3 and _convert(float, "1e-3") == 0.001 and _convert(float, 2) == 2
    assert _convert(Path, "a/b") == Path("a/b") and _convert(str, 5) == "5"
    assert _convert(bool, "yes") is True and _convert(bool, "0") is False
    for tp, bad in ((int, "1.5"), (float, ""), (bool, "maybe")):
        with pytest.raises(ValueError):
            _convert(tp, bad)
