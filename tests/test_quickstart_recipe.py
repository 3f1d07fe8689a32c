"""`make demo`'s recipe: real models wherever a model speaks, every key valid, a plan that runs in order."""

from __future__ import annotations

from pathlib import Path

from instructkit.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
SPEAKING = {"sft", "reward", "rlhf", "eval", "synth", "generate"}


def test_quickstart_uses_smollm2_and_minilm_not_the_tiny_model():
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")  # checks every stage's keys
    stages = {s.name: s for s in recipe.stages}
    assert stages["smollm2"].params == {"name": "smollm2-135m-instruct"}
    assert stages["minilm"].params == {"name": "all-minilm-l6-v2"}
    assert not any("tiny" in str(s.params) for s in recipe.stages)
    derived = {"{stages.smollm2}"} | {f"{{stages.{s.name}}}" for s in recipe.stages if s.run in SPEAKING}
    for s in recipe.stages:
        if s.run not in SPEAKING:
            continue
        models = [s.params.get(k) for k in ("model", "policy", "generator")]
        flat = [m for v in models if v for m in (v if isinstance(v, list) else [v])]
        assert flat and all(m in derived for m in flat), (s.name, flat)
    assert stages["dedupe"].params["model"] == "{stages.minilm}" and "semantic" in stages["dedupe"].params["mode"]
    assert stages["synth"].params["prompt_style"] == "short"
    assert "{stages.smollm2}" in stages["eval"].params["model"]  # the base model, next to the trained ones


def test_quickstart_tiny_keeps_the_quick_check():
    recipe = load_recipe(ROOT / "recipes" / "quickstart-tiny.yaml")
    assert (recipe.stages[0].run, recipe.stages[0].params) == ("model", {"name": "tiny"})


def test_quickstart_dry_run_plans_every_stage(cli, tmp_path):
    result = cli("run", ROOT / "recipes" / "quickstart.yaml", "--dry-run", "--set", f"workdir={tmp_path}")
    text = " ".join(result.output.split())
    for name in ("smollm2", "minilm", "sft", "reward", "dpo", "ppo", "synth", "eval"):
        assert name in text
