"""ingest and filter on the stage registry: --config, --set and flags name the same keys, with
precedence defaults < --config < --set < flags."""

from __future__ import annotations

import json

import pytest

from instructkit.errors import ConfigError
from instructkit.registry import build_params, get
from instructkit.shards import ShardSet


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


BAD_ROWS = [{"instruction": "Say hi.", "output": "Hi!"}, {"instruction": "Broken row"}]


def test_ingest_on_error_from_set_and_config(cli, tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", BAD_ROWS)
    assert cli("ingest", path, "-o", tmp_path / "fail", ok=False).exit_code == 2
    cli("ingest", path, "-o", tmp_path / "set", "--set", "on_error=skip")
    assert ShardSet(tmp_path / "set").manifest["counts"]["quarantined"] == {"invalid_record": 1}

    cfg = tmp_path / "ingest.yaml"
    cfg.write_text("on_error: skip\nformat: alpaca\nmap: {instruction: question}\n", "utf-8")
    q = _jsonl(tmp_path / "q.jsonl", [{"question": "Say hi.", "output": "Hi!"}, {"question": "No output"}])
    cli("ingest", q, "-o", tmp_path / "cfg", "--config", cfg)
    s = ShardSet(tmp_path / "cfg")
    assert s.manifest["counts"]["kept"] == 1 and s.manifest["params"]["on_error"] == "skip"
    assert s.manifest["params"]["map"] == ["instruction=question"]
    assert s.manifest["params"]["paths"] == [str(q)]
    # The flag beats --set, which beats --config.
    flags = ("--config", cfg, "--set", "on_error=skip", "--on-error", "fail")
    result = cli("ingest", q, "-o", tmp_path / "flag", *flags, ok=False)
    assert result.exit_code == 2 and "q.jsonl:2" in result.output  # failed on the bad row
    assert not (tmp_path / "flag").exists() or not any((tmp_path / "flag").glob("v*"))


def test_ingest_bad_keys_are_config_errors(cli, tmp_path, samples):
    result = cli("ingest", samples / "alpaca.jsonl", "-o", tmp_path / "o", "--set", "on-eror=skip", ok=False)
    assert result.exit_code == 2 and "unknown key 'on_eror'" in result.output and "on_error" in result.output
    result = cli("ingest", samples / "alpaca.jsonl", "-o", tmp_path / "o", "--set", "on_error=maybe", ok=False)
    assert result.exit_code == 2 and "--on-error must be fail or skip" in result.output


def _langs(**kw):
    params = build_params(get("filter"), **kw)
    return next(r["language"]["langs"] for r in params.rules if "language" in r)


def test_filter_lang_precedence_config_set_flag(tmp_path):
    cfg = tmp_path / "f.yaml"
    cfg.write_text("lang: [de]\nrules:\n  - length: {unit: chars}\n", "utf-8")
    assert _langs(config=cfg) == ["de"]
    assert _langs(config=cfg, sets={"lang": "zh,ja"}) == ["zh", "ja"]
    assert _langs(config=cfg, sets={"lang": "zh"}, flags={"lang": ["en"]}) == ["en"]
    params = build_params(get("filter"), config=cfg, flags={"lang": ["en"]})
    # The language rule is put first when the config lacks it; the config's rules follow.
    assert [next(iter(r)) for r in params.rules] == ["language", "length"]
    assert params.rules[1]["length"]["unit"] == "chars" and params.config_file == str(cfg)
    # A rule list in the config without lang keeps its own langs; the built-in default keeps every language.
    cfg.write_text("rules:\n  - language: {langs: [fr]}\n", "utf-8")
    assert _langs(config=cfg) == ["fr"] and _langs() == []


def test_filter_dotted_sets_and_unknown_language(tmp_path):
    params = build_params(get("filter"), sets={"length.unit": "chars", "refusal.extra": ["x"]})
    names = [next(iter(r)) for r in params.rules]
    assert names[-1] == "refusal" and params.rules[names.index("length")]["length"]["unit"] == "chars"
    with pytest.raises(ConfigError, match="unknown language code 'xx'"):
        build_params(get("filter"), flags={"lang": ["en", "xx"]})
    assert _langs(flags={"lang": ["zh-CN", "EN"]}) == ["zh-CN", "EN"]  # regional and upper-case spellings pass
