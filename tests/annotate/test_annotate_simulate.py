"""annotate-simulate: simulated annotators answer exported tasks in Label Studio's format, import reads them."""

from __future__ import annotations

import pytest
from annotate_fixtures import feedback_set

import instructkit
from instructkit.shards import ShardSet


@pytest.mark.parametrize("template", ["pairwise", "ranking", "rating"])
def test_oracle_prefers_longer_through_import(tmp_path, template):
    cand = feedback_set(tmp_path)
    tasks = instructkit.annotate_export(cand, tmp_path / "tasks", template=template)
    sim = instructkit.run_stage("annotate-simulate", tasks, tmp_path / "sim", prefer="longer", noise=0, annotators=2)
    out = instructkit.annotate_import(sim / "export.json", tmp_path / "fb", tasks=str(tasks), binarize="all-pairs")
    prefs = list(ShardSet(out / "preference"))
    assert any(len(r["chosen"][-1]["content"]) > len(r["rejected"][-1]["content"]) for r in prefs)
    for r in prefs:  # a noiseless annotator never prefers the shorter response
        assert len(r["chosen"][-1]["content"]) >= len(r["rejected"][-1]["content"])  # equal length: a coin flip


def test_noise_flips_some_pairs(tmp_path):
    cand = feedback_set(tmp_path)
    tasks = instructkit.annotate_export(cand, tmp_path / "tasks", template="pairwise")
    sim = instructkit.run_stage("annotate-simulate", tasks, tmp_path / "sim", noise=5.0, annotators=9, seed=3)
    import json

    picks = [
        a["result"][0]["value"]["selected"]
        for t in json.loads((sim / "export.json").read_text())
        for a in t["annotations"]
    ]
    assert 0 < picks.count("left") < len(picks)
    with pytest.raises(instructkit.ConfigError, match="reward-model"):
        instructkit.run_stage("annotate-simulate", tasks, tmp_path / "s2", prefer="reward-model")
