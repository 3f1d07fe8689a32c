"""The recipe runner: validation errors with lines, caching, re-runs after a change or a failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instructkit.errors import ConfigError, InstructkitError
from instructkit.recipe import Runner, load_recipe

ALPACA = [
    {"instruction": "Name a primary colour.", "input": "", "output": "Red is a primary colour."},
    {"instruction": "Name a primary colour.", "input": "", "output": "Red is a primary colour."},
    {"instruction": "What is two plus two?", "input": "", "output": "Two plus two is four."},
]


def _recipe(tmp_path: Path, extra_stage: str = "") -> Path:
    data = tmp_path / "data.json"
    data.write_text(json.dumps(ALPACA))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""# a test recipe
name: t
workdir: {tmp_path / "work"}
vars:
  data: {data}
stages:
  - name: ingest
    run: ingest
    inputs: ["{{vars.data}}"]
    output: "{{workdir}}/ingest"
  - name: dedupe
    run: dedupe
    inputs: ["{{stages.ingest}}"]
    output: "{{workdir}}/dedupe"
    params: {{mode: exact}}
{extra_stage}""")
    return recipe


def _statuses(rows):
    return {r["stage"]: r["status"].split(" (")[0] for r in rows}


def test_second_run_skips_and_param_change_reruns_downstream(tmp_path):
    recipe = _recipe(tmp_path)
    rows = Runner(load_recipe(recipe), log=lambda m: None).execute()
    assert _statuses(rows) == {"ingest": "ran", "dedupe": "ran"}
    from instructkit.shards import ShardSet

    assert ShardSet(rows[1]["output"]).manifest["counts"]["kept"] == 2
    rows2 = Runner(load_recipe(recipe), log=lambda m: None).execute()
    assert _statuses(rows2) == {"ingest": "skipped", "dedupe": "skipped"}
    assert [r["output"] for r in rows2] == [r["output"] for r in rows]
    # Changing the ingest stage's params re-runs it and the stage after it.
    rows3 = Runner(load_recipe(recipe, {"ingest.shard-size": 1}), log=lambda m: None).execute()
    assert _statuses(rows3) == {"ingest": "ran", "dedupe": "ran"}
    assert rows3[0]["output"].endswith("v0002") and rows3[1]["output"].endswith("v0002")
    # Changing only the last stage leaves the first cached.
    rows4 = Runner(
        load_recipe(recipe, {"ingest.shard-size": 1, "dedupe.mode": "exact,minhash"}), log=lambda m: None
    ).execute()
    assert _statuses(rows4) == {"ingest": "skipped", "dedupe": "ran"}


def test_input_content_change_reruns(tmp_path):
    recipe = _recipe(tmp_path)
    Runner(load_recipe(recipe), log=lambda m: None).execute()
    (tmp_path / "data.json").write_text(json.dumps(ALPACA[:2]))
    rows = Runner(load_recipe(recipe), log=lambda m: None).execute()
    assert _statuses(rows) == {"ingest": "ran", "dedupe": "ran"}


def test_dry_run_runs_nothing(tmp_path, cli):
    recipe = _recipe(tmp_path)
    result = cli("run", recipe, "--dry-run")
    assert "would run" in result.output
    assert not (tmp_path / "work" / "ingest").exists()


def test_failed_stage_keeps_earlier_outputs_and_rerun_resumes(tmp_path, cli):
    bad = """  - name: broken
    run: dedupe
    inputs: ["{stages.dedupe}"]
    output: "{workdir}/broken"
    params: {mode: nonsense}
"""
    recipe = _recipe(tmp_path, bad)
    result = cli("run", recipe, ok=False)
    assert result.exit_code == 2 and "broken" in result.output
    assert (tmp_path / "work" / "dedupe" / "v0001" / "manifest.json").is_file()
    recipe.write_text(recipe.read_text().replace("mode: nonsense", "mode: exact"))
    rows = Runner(load_recipe(recipe), log=lambda m: None).execute()
    assert _statuses(rows) == {"ingest": "skipped", "dedupe": "skipped", "broken": "ran"}


def test_only_and_from(tmp_path):
    recipe = _recipe(tmp_path)
    with pytest.raises(InstructkitError, match="no finished output"):
        Runner(load_recipe(recipe), log=lambda m: None).execute(only="dedupe")
    Runner(load_recipe(recipe), log=lambda m: None).execute()
    rows = Runner(load_recipe(recipe), log=lambda m: None).execute(only="dedupe")
    assert _statuses(rows) == {"ingest": "not selected", "dedupe": "ran"}
    # --only runs one stage even when later stages have never run.
    rows = Runner(load_recipe(recipe), log=lambda m: None).execute(only="ingest")
    assert _statuses(rows) == {"ingest": "ran"}
    rows = Runner(load_recipe(recipe), log=lambda m: None).execute(from_stage="ingest")
    assert _statuses(rows) == {"ingest": "ran", "dedupe": "ran"}


@pytest.mark.parametrize(
    "text, line, needle",
    [
        ("name: x\nstagez: []\n", 2, "valid keys: name, description, workdir, vars, isolate, stages"),
        ("isolate: maybe\nstages:\n  - name: a\n    run: ingest\n    output: o\n", 1, "isolate must be true or false"),
        ("stages:\n  - name: a\n    run: ingest\n    output: o\n    parms: {}\n", 5, "valid keys: name, run, inputs"),
        ("stages:\n  - name: a\n    run: frobnicate\n    output: o\n", 3, "unknown stage 'frobnicate'"),
        ("stages:\n  - name: a\n    run: ingest\n", 2, "has no 'output'"),
    ],
)
def test_validation_errors_name_the_line(tmp_path, text, line, needle):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_recipe(recipe)
    assert info.value.line == line and needle in str(info.value)


def test_bad_recipe_through_cli_has_no_traceback(tmp_path, cli):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("stages: [\n")
    result = cli("run", recipe, ok=False)
    assert result.exit_code == 2 and "invalid YAML" in result.output and "Traceback" not in result.output


def test_shipped_recipes_parse():
    root = Path(__file__).resolve().parents[1] / "recipes"
    for path in sorted(root.glob("*.yaml")):
        text = path.read_text()
        assert text.startswith("#"), f"{path.name} must start with a comment giving the command"
        if "stages:" in text:
            load_recipe(path)


def test_isolate_false_runs_a_training_stage_in_the_runners_process(tmp_path, tiny_model, monkeypatch):
    """``isolate: false`` (or --set isolate=false): no child process, the same model directory."""
    import instructkit.child

    def no_child(*a, **k):
        raise AssertionError("a child process was started")

    monkeypatch.setattr(instructkit.child, "run_in_child", no_child)
    sft = f"""  - name: sft
    run: sft
    inputs: ["{{stages.dedupe}}"]
    output: "{{workdir}}/sft"
    params: {{model: {tiny_model}, max_steps: 1, batch_size: 2, save_steps: null}}
"""
    recipe = _recipe(tmp_path, sft)
    recipe.write_text(recipe.read_text().replace("name: t\n", "name: t\nisolate: false\n"))
    logs: list[str] = []
    rows = Runner(load_recipe(recipe), log=logs.append).execute()
    assert _statuses(rows)["sft"] == "ran" and any("[sft]" in m and "(in process)" in m for m in logs)
    out = Path(json.loads((tmp_path / "work" / ".instructkit-run.json").read_text())["sft"]["output"])
    assert (out / "model.safetensors").is_file() or any(out.glob("*.safetensors"))
    assert load_recipe(recipe, {"isolate": True}).isolate is True
