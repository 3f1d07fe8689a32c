"""`stats` distinct counts: datasketch's HyperLogLog++ against exact counting on the same records."""

from __future__ import annotations

import random

from instructkit.inspect import set_stats
from instructkit.shards import ShardWriter


def _write(out, n: int, n_prompts: int, seed: int = 0):
    rng = random.Random(seed)
    records = []
    with ShardWriter(out, stage="test", conserving=False) as w:
        for i in range(n):
            p = rng.randrange(n_prompts)
            rec = {
                "id": f"r{i}",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": f"prompt number {p}"},
                    {"role": "assistant", "content": f"answer {rng.randrange(3)}"},
                ],
            }
            w.write(rec)
            records.append(rec)
    return w.path, records


def test_distinct_prompts_and_records_match_exact_counts(tmp_path):
    path, records = _write(tmp_path / "s", 6000, 2500)
    exact_prompts = len({r["messages"][1]["content"] for r in records})
    exact_records = len({(r["messages"][1]["content"], r["messages"][2]["content"]) for r in records})
    got = set_stats(path)["distinct"]
    # 1.04 / sqrt(2^14) = 0.8% standard error: 3% is about 4 sigma.
    assert abs(got["prompts"] - exact_prompts) <= 0.03 * exact_prompts, (got, exact_prompts)
    assert abs(got["records"] - exact_records) <= 0.03 * exact_records, (got, exact_records)
    assert got["records"] > got["prompts"]  # same prompt, different answers


def test_small_sets_are_counted_exactly(tmp_path, cli):
    path, records = _write(tmp_path / "s", 50, 20, seed=1)
    exact = len({r["messages"][1]["content"] for r in records})
    assert set_stats(path)["distinct"]["prompts"] == exact  # HLL++ uses linear counting when small
    out = cli("stats", path, "--json").output
    assert '"distinct"' in out and f'"prompts": {exact}' in out
