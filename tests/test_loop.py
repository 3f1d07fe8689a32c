"""The feedback loop once, in a recipe on the tiny model, without a hand-made file:
generate -> annotate-export --select -> annotate-simulate -> annotate-import -> split -> reward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instructkit.recipe import Runner, load_recipe
from instructkit.shards import ShardSet, verify

ROOT = Path(__file__).resolve().parents[1]


def test_loop_recipe_tiny(tmp_path, tiny_model):
    recipe = tmp_path / "loop.yaml"
    recipe.write_text(f"""# the loop once
name: loop
workdir: {tmp_path / "work"}
stages:
  - name: prompts
    run: ingest
    inputs: ["{ROOT / "data" / "samples" / "prompts.jsonl"}"]
    output: "{{workdir}}/prompts"
  - name: generate
    run: generate
    inputs: ["{{stages.prompts}}"]
    output: "{{workdir}}/candidates"
    params: {{model: ["{tiny_model}"], n: 2, max_new_tokens: 6, temperature: 1.0, batch_size: 16}}
  - name: tasks
    run: annotate-export
    inputs: ["{{stages.generate}}"]
    output: "{{workdir}}/tasks"
    params: {{template: pairwise, select: 12, by: random}}
  - name: annotate
    run: annotate-simulate
    inputs: ["{{stages.tasks}}"]
    output: "{{workdir}}/annotations"
    params: {{prefer: longer, annotators: 2, noise: 0}}
  - name: feedback
    run: annotate-import
    inputs: ["{{stages.annotate}}/export.json"]
    output: "{{workdir}}/feedback"
    params: {{tasks: "{{stages.tasks}}"}}
  - name: split
    run: split
    inputs: ["{{stages.feedback}}/preference"]
    output: "{{workdir}}/split"
    params: {{val: 2, test: 0}}
  - name: reward
    run: reward
    inputs: ["{{stages.split}}"]
    output: "{{workdir}}/reward"
    params: {{model: "{tiny_model}", max_steps: 2, batch_size: 4, eval_split: 0, seed: 0}}
""")
    rows = Runner(load_recipe(recipe), log=lambda m: None).execute()
    outputs = {r["stage"]: r["output"] for r in rows}
    candidates = ShardSet(outputs["generate"])
    assert candidates.kind == "feedback" and len(candidates) == 30 and verify(candidates.path) == []
    manifest = json.loads((Path(outputs["tasks"]) / "export_manifest.json").read_text())
    assert manifest["tasks"] == 12 and manifest["selection"]["by"] == "random"
    assert len(manifest["selection"]["chosen"]) == 12  # two responses per prompt: one pairwise task each
    prefs = ShardSet(Path(outputs["feedback"]) / "preference")
    # noise 0: the longer response wins; two responses of equal length are a coin flip (a tie makes no pair)
    assert 10 <= len(prefs) <= 12
    for r in prefs:
        assert len(r["chosen"][-1]["content"]) >= len(r["rejected"][-1]["content"])
    split = ShardSet(outputs["split"])
    assert len(split.sub("val")) == 2 and len(split) == len(prefs) - 2
    reward_manifest = json.loads((Path(outputs["reward"]) / "manifest.json").read_text())
    assert split.fingerprint in json.dumps(reward_manifest)


@pytest.mark.slow
def test_feedback_loop_recipe(tmp_path):
    """recipes/feedback-loop.yaml as shipped (two rounds, the second selected by reward-model uncertainty)."""
    import os

    os.chdir(ROOT)
    rows = Runner(load_recipe(ROOT / "recipes" / "feedback-loop.yaml", {"workdir": str(tmp_path)}), log=lambda m: None)
    done = {r["stage"]: r for r in rows.execute()}
    manifest = json.loads((Path(done["tasks-2"]["output"]) / "export_manifest.json").read_text())
    assert manifest["selection"]["by"] == "uncertainty" and manifest["tasks"] == 15
