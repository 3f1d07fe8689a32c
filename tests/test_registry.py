"""The stage registry: one declaration drives the CLI, --config, --set, recipes and the Python API.

dedupe is the stage used here (it needs no model); every stage goes through the same code path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import instructkit
from instructkit import registry
from instructkit.errors import ConfigError, InstructkitError
from instructkit.shards import ShardSet, ShardWriter

RECORDS = [
    {"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Red."}]},
    {"messages": [{"role": "user", "content": "NAME A COLOUR."}, {"role": "assistant", "content": "Red."}]},
    {"messages": [{"role": "user", "content": "Add 2 and 2."}, {"role": "assistant", "content": "Four."}]},
]


@pytest.fixture
def source(tmp_path) -> Path:
    from instructkit.records import make_record

    with ShardWriter(tmp_path / "src", stage="test", params={}, inputs=[]) as w:
        for i, r in enumerate(RECORDS):
            w.count_in()
            w.write(make_record("sft", source={"file": "test", "line": i + 1}, **r))
    return w.path


def _params(path: Path) -> dict:
    return ShardSet(path).manifest["params"]


def test_every_stage_declares_a_params_dataclass_and_run():
    import dataclasses

    for name, spec in registry.stages().items():
        assert dataclasses.is_dataclass(spec.params_class()), name
        assert spec.output in ("set", "dir"), name
        assert spec.inputs in ("many", "one", "any", "none"), name
        assert "Example:" in spec.help, f"{name}: --help needs an example"


def test_precedence_config_then_set_then_flags(tmp_path, source, cli):
    cfg = tmp_path / "d.yaml"
    cfg.write_text("threshold: 0.5\nngram: 2\nmode: [exact, minhash]\n")
    out = cli("dedupe", source, "-o", tmp_path / "a", "--config", cfg).stdout.strip().splitlines()[-1]
    assert _params(Path(out))["threshold"] == 0.5
    out = cli("dedupe", source, "-o", tmp_path / "b", "--config", cfg, "--set", "threshold=0.6")
    assert _params(Path(out.stdout.strip().splitlines()[-1]))["threshold"] == 0.6
    out = cli("dedupe", source, "-o", tmp_path / "c", "--config", cfg, "--set", "threshold=0.6", "--threshold", "0.7")
    p = _params(Path(out.stdout.strip().splitlines()[-1]))
    assert p["threshold"] == 0.7 and p["ngram"] == 2  # the config's other keys still apply


def test_false_reaches_the_stage_from_every_surface(tmp_path, source, cli):
    # The default is fold_case=true: the two spellings of "Name a colour." only collapse with it.
    on = cli("dedupe", source, "-o", tmp_path / "on", "--mode", "exact").stdout.strip().splitlines()[-1]
    assert ShardSet(on).manifest["counts"]["kept"] == 2
    flag = cli("dedupe", source, "-o", tmp_path / "flag", "--mode", "exact", "--no-fold-case")
    via_set = cli("dedupe", source, "-o", tmp_path / "set", "--mode", "exact", "--set", "fold_case=false")
    hyphen = cli("dedupe", source, "-o", tmp_path / "hy", "--mode", "exact", "--set", "fold-case=false")
    api = instructkit.dedupe(source, tmp_path / "api", mode="exact", fold_case=False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: t\nworkdir: {tmp_path / 'work'}\nstages:\n"
        f"  - name: d\n    run: dedupe\n    inputs: ['{source}']\n    output: '{{workdir}}/d'\n"
        "    params: {mode: exact, fold-case: false}\n"
    )
    from instructkit.recipe import Runner, load_recipe

    rows = Runner(load_recipe(recipe), log=lambda m: None).execute()
    for path in (
        flag.stdout.strip().splitlines()[-1],
        via_set.stdout.strip().splitlines()[-1],
        hyphen.stdout.strip().splitlines()[-1],
        api,
        rows[0]["output"],
    ):
        m = ShardSet(path).manifest
        assert m["params"]["fold_case"] is False, path
        assert m["counts"]["kept"] == 3, path


def test_unknown_key_lists_the_valid_ones(tmp_path, source, cli):
    result = cli("dedupe", source, "-o", tmp_path / "x", "--set", "treshold=0.5", ok=False)
    assert result.exit_code == 2
    assert "unknown key 'treshold'" in result.output and "threshold" in result.output
    assert "Traceback" not in result.output


def test_list_params_prints_every_key(cli):
    out = cli("dedupe", "--list-params").output
    for key in ("threshold", "num_perm", "fold_case", "shard_size", "workers"):
        assert key in out


def test_output_knobs_are_not_recorded(tmp_path, source):
    path = instructkit.dedupe(source, tmp_path / "o", shard_size=1, compression="gz")
    params = _params(path)
    assert "shard_size" not in params and "compression" not in params and "force" not in params
    assert all(p.name.endswith(".jsonl.gz") for p in ShardSet(path).parts)


def test_api_returns_the_version_path_and_raises_library_errors(tmp_path, source):
    path = instructkit.dedupe(source, tmp_path / "o", threshold=0.9)
    assert isinstance(path, Path) and path.name == "v0001" and path.parent == tmp_path / "o"
    assert [r["id"] for r in instructkit.read(path)] == [r["id"] for r in ShardSet(path)]
    with pytest.raises(ConfigError, match="threshold"):
        instructkit.dedupe(source, tmp_path / "bad", threshold=2.0)
    with pytest.raises(InstructkitError, match="unknown key"):
        instructkit.dedupe(source, tmp_path / "bad", no_such_knob=1)
    # The package that implements the stage is still a package.
    assert instructkit.dedupe.DedupeParams is not None


def test_to_dataset(tmp_path, source):
    path = instructkit.dedupe(source, tmp_path / "o", mode="exact", fold_case=False)
    ds = instructkit.to_dataset(path)
    assert len(ds) == 3 and ds[0]["messages"][0]["content"] == "Name a colour."


def test_data_stage_through_the_api_imports_no_torch(tmp_path, source):
    code = (
        "import sys, instructkit\n"
        f"p = instructkit.dedupe({str(source)!r}, {str(tmp_path / 'o')!r}, mode='exact')\n"
        "print(p, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False"], out


def test_child_process_runs_a_stage_from_the_registry(tmp_path, source):
    from instructkit.child import run_in_child

    result = run_in_child("dedupe", [str(source)], tmp_path / "o", flags={"mode": ["exact"], "fold_case": False})
    assert result.path.name == "v0001" and ShardSet(result.path).manifest["counts"]["kept"] == 3
    with pytest.raises(InstructkitError, match="threshold"):
        run_in_child("dedupe", [str(source)], tmp_path / "o", flags={"threshold": 5})
    assert not (tmp_path / "o" / "v0002").exists()


def test_manifest_params_are_json(tmp_path, source):
    path = instructkit.dedupe(source, tmp_path / "o")
    json.dumps(_params(path))
