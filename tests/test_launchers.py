"""Training launchers (recipe ``launcher:``): the command lines built for accelerate and torchrun, the
recipe keys and ``--set`` overrides, and a real stage started through ``torchrun`` on CPU."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from instructkit import launchers
from instructkit.errors import ConfigError
from instructkit.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
ZERO2 = str(ROOT / "recipes" / "accelerate" / "zero2.yaml")


def test_accelerate_command_line():
    spec = launchers.parse(
        {"kind": "accelerate", "config": ZERO2, "num_processes": 16, "num_machines": 2, "machine_rank": 1,
         "main_process_ip": "10.0.0.1", "main_process_port": 29500}
    )  # fmt: skip
    assert launchers.command(spec, args=("req.json",)) == [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", ZERO2,
        "--num_processes", "16", "--num_machines", "2", "--machine_rank", "1",
        "--main_process_ip", "10.0.0.1", "--main_process_port", "29500",
        "-m", "instructkit.child", "req.json",
    ]  # fmt: skip
    assert launchers.command(launchers.parse("accelerate")) == [
        sys.executable, "-m", "accelerate.commands.launch", "-m", "instructkit.child"
    ]  # fmt: skip


def test_torchrun_command_line():
    spec = launchers.parse({"kind": "torchrun", "nproc_per_node": 8, "nnodes": 2, "node_rank": 0,
                            "rdzv_endpoint": "10.0.0.1:29500"})  # fmt: skip
    assert launchers.command(spec) == [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "8", "--nnodes", "2",
        "--node_rank", "0", "--rdzv_endpoint", "10.0.0.1:29500", "-m", "instructkit.child",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mpirun", "unknown launcher"),
        ({"kind": "torchrun", "num_processes": 2}, "unknown torchrun launcher option"),
        ({"kind": "accelerate", "config": "missing.yaml"}, "config file not found"),
    ],
)
def test_bad_launchers_are_refused(value, message):
    with pytest.raises(ConfigError, match=message):
        launchers.parse(value)


def _recipe(tmp_path: Path, launcher_yaml: str, run: str = "sft", params: str = "{model: out/tiny}") -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            stages:
              - name: train
                run: {run}
                inputs: [data/set]
                output: out/model
                params: {params}
            """
        )
        + textwrap.indent(launcher_yaml, "    ")
    )
    return path


def test_recipe_stage_launcher_and_set_override(tmp_path):
    path = _recipe(tmp_path, f"launcher: {{kind: accelerate, config: {ZERO2}, num_processes: 8}}\n")
    stage = load_recipe(path).stages[0]
    assert stage.launcher == {"kind": "accelerate", "config": ZERO2, "num_processes": 8}
    stage = load_recipe(path, {"train.launcher.machine_rank": 1, "train.launcher.num_machines": 2}).stages[0]
    assert stage.launcher["machine_rank"] == 1 and stage.launcher["num_machines"] == 2
    plain = _recipe(tmp_path, "")
    assert load_recipe(plain).stages[0].launcher is None
    assert load_recipe(plain, {"train.launcher": "torchrun"}).stages[0].launcher == {"kind": "torchrun"}


def test_launcher_on_a_data_stage_is_refused(tmp_path):
    path = _recipe(tmp_path, "launcher: torchrun\n", run="filter", params="{}")
    with pytest.raises(ConfigError, match="training stages only"):
        load_recipe(path)


def test_a_stage_runs_under_torchrun(tmp_path):
    """The real path on CPU: torchrun (1 process) starts instructkit.child with the request file; rank 0
    runs the registered stage and reports its result back to this process."""
    pytest.importorskip("torch")
    from instructkit.child import run_in_child

    result = run_in_child(
        "model", [], tmp_path / "tiny", flags={"name": "tiny"}, launcher={"kind": "torchrun", "nproc_per_node": 1}
    )
    assert (Path(result.path) / "config.json").is_file()
