"""annotate-export, annotate-import and synth on the stage registry: ``--config`` YAML, ``--set`` and
flags reach the same Params fields with the precedence config < set < flag, on the command line and
through ``registry.run_stage`` (the Python API and recipes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from annotate_fixtures import better, feedback_set, load_tasks, ls_json, pw, write
from openai_server import ScriptedServer
from synth_fake import FakeGenerator

from instructkit.errors import ConfigError
from instructkit.registry import build_params, get, run_stage
from instructkit.shards import ShardSet

SEEDS = Path(__file__).parents[1] / "data" / "synth_seeds.jsonl"


def yaml_file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_annotate_export_config_set_flag(cli, tmp_path):
    config = yaml_file(
        tmp_path / "export.yaml",
        "template: rating\ncriteria: [helpfulness, harmlessness]\nmax_rating: 4\noverlap: 2\nseed: 5\n",
    )
    out = tmp_path / "tasks"
    args = ["annotate-export", feedback_set(tmp_path), "-o", out, "--config", config]
    cli(*args, "--set", "overlap=3", "--set", "seed=7", "--seed", "9")
    m = json.loads((out / "export_manifest.json").read_text())
    assert (m["template"], m["criteria"], m["max_rating"]) == ("rating", ["helpfulness", "harmlessness"], 4)
    assert (m["overlap"], m["seed"]) == (3, 9)  # overlap from --set over the config, seed from the flag over both
    p = build_params(get("annotate-export"), config=config, sets={"overlap": 3, "seed": 7}, flags={"seed": 9})
    assert (p.template, p.overlap, p.seed, p.criteria) == ("rating", 3, 9, ["helpfulness", "harmlessness"])
    with pytest.raises(ConfigError, match="unknown template"):
        build_params(get("annotate-export"), sets={"template": "vote"})


def _export(cli, tmp_path) -> tuple[Path, Path]:
    tasks_dir = tmp_path / "tasks"
    cli("annotate-export", feedback_set(tmp_path), "-o", tasks_dir, "--template", "pairwise")
    return tasks_dir, write(tmp_path / "e.json", ls_json(load_tasks(tasks_dir), lambda who, d: pw(better(d))))


def test_annotate_import_config_set_flag_cli_and_python(cli, tmp_path):
    tasks_dir, export = _export(cli, tmp_path)
    config = yaml_file(tmp_path / "import.yaml", "binarize: all-pairs\nmin_margin: 0.5\ndispute_below: 0.2\n")
    out = tmp_path / "cli"
    cli(
        "annotate-import",
        export,
        "--tasks",
        tasks_dir,
        "-o",
        out,
        "--config",
        config,
        "--set",
        "min_margin=0.25",
        "--set",
        "dispute-below=0.3",
        "--dispute-below",
        "0.4",
    )
    params = ShardSet(out / "feedback").manifest["params"]
    assert (params["binarize"], params["min_margin"], params["dispute_below"]) == ("all-pairs", 0.25, 0.4)
    assert params["tasks"] == str(tasks_dir) and "label_studio_url" not in params and "project" not in params

    # The same through the registry, as the Python API and recipes call it.
    result = run_stage(
        "annotate-import",
        [export],
        tmp_path / "py",
        config=config,
        sets={"min_margin": 0.25, "dispute_below": 0.3},
        flags={"tasks": str(tasks_dir), "dispute_below": 0.4},
    )
    assert result.path == tmp_path / "py" and result.summary["preference pairs"] > 0
    params = ShardSet(tmp_path / "py" / "feedback").manifest["params"]
    assert (params["binarize"], params["min_margin"], params["dispute_below"]) == ("all-pairs", 0.25, 0.4)
    assert len(ShardSet(result.path / "preference")) == result.summary["preference pairs"]


def test_synth_config_set_flag(cli, tmp_path):
    fake = FakeGenerator()
    with ScriptedServer(reply=lambda body: fake.reply(body["messages"][-1]["content"], body.get("seed", 0))) as server:
        config = yaml_file(
            tmp_path / "synth.yaml",
            f"generator: {server.url}\nmethod: evol\nrounds: 3\nseed: 4\njudge: similarity\n",
        )
        out = tmp_path / "evol"
        cli(
            "synth",
            "--seeds",
            SEEDS,
            "-o",
            out,
            "--cache",
            tmp_path / "c.jsonl",
            "--config",
            config,
            "--set",
            "rounds=2",
            "--set",
            "seed=5",
            "--seed",
            "6",
        )
    params = ShardSet(out).manifest["params"]
    assert (params["method"], params["judge"], params["rounds"], params["seed"]) == ("evol", "similarity", 2, 6)
    assert params["generator"]["url"] == server.url and params["cache"] == str(tmp_path / "c.jsonl")
    p = build_params(get("synth"), config=config, sets={"rounds": 2, "seed": 5}, flags={"seed": 6, "rounds": None})
    assert (p.generator, p.method, p.rounds, p.seed) == (server.url, "evol", 2, 6)
    with pytest.raises(ConfigError, match="needs 'generator'"):
        run_stage("synth", [SEEDS], tmp_path / "o")
