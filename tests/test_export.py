"""export --to llamafactory|axolotl|torchtune: rows and configs in each tool's documented shape.

LLaMA-Factory's own rules are restated here from its data/README.md and its SharegptDatasetConverter
(src/llamafactory/data/converter.py, parser.py): the dataset_info.json attributes and column names it
knows, human/observation and gpt/function_call turns alternating, an even turn count for sft and kto
rows and an odd one for ranking rows, chosen/rejected as single gpt messages, kto_tag a bool.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import instructkit
from instructkit.errors import InstructkitError
from instructkit.shards import ShardWriter

LF_ATTRS = {"hf_hub_url", "ms_hub_url", "script_url", "file_name", "file_sha1", "subset", "split", "folder"}
LF_ATTRS |= {"ranking", "formatting", "num_samples", "columns", "tags"}
LF_COLUMNS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos"}
LF_COLUMNS |= {"audios", "chosen", "rejected", "kto_tag"}
LF_TAG_DEFAULTS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
LF_TAG_DEFAULTS |= {"observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}


def lf_check(data_dir: Path, name: str) -> list[dict]:
    """Apply LLaMA-Factory's loader and sharegpt converter rules; return the converted examples."""
    info = json.loads((data_dir / "dataset_info.json").read_text())
    attr = info[name]
    assert set(attr) <= LF_ATTRS, set(attr) - LF_ATTRS
    assert attr.get("formatting", "alpaca") in ("alpaca", "sharegpt")
    assert isinstance(attr.get("ranking", False), bool)
    assert set(attr["columns"]) <= LF_COLUMNS
    tags = {**LF_TAG_DEFAULTS, **attr.get("tags", {})}
    cols = attr["columns"]
    rows = [json.loads(line) for line in (data_dir / attr["file_name"]).read_text().splitlines()]
    assert rows and all(line for line in rows)
    odd, even = (tags["user_tag"], tags["observation_tag"]), (tags["assistant_tag"], tags["function_tag"])
    converted = []
    for ex in rows:
        msgs = ex[cols.get("messages", "conversations")]
        assert msgs[0][tags["role_tag"]] != tags["system_tag"]  # system goes to its column
        for i, m in enumerate(msgs):
            assert m[tags["role_tag"]] in (odd, even)[i % 2], (i, msgs)
            assert isinstance(m[tags["content_tag"]], str)
        if attr.get("ranking"):
            assert len(msgs) % 2 == 1
            for key in ("chosen", "rejected"):
                answer = ex[cols[key]]
                assert isinstance(answer, dict) and answer[tags["role_tag"]] in even
        else:
            assert len(msgs) % 2 == 0
        if "kto_tag" in cols:
            assert isinstance(ex[cols["kto_tag"]], bool)
        converted.append(ex)
    return converted


@pytest.fixture
def sets(tmp_path, samples):
    def ingest(*names: str) -> Path:
        return instructkit.ingest([str(samples / n) for n in names], tmp_path / names[0].split(".")[0])

    return ingest


def test_llamafactory_preference_sft_kto(sets, tmp_path, cli):
    out = tmp_path / "lf"
    (out).mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"theirs": {"file_name": "theirs.json"}}))
    cli("export", sets("preference.jsonl"), "--to", "llamafactory", "-o", out, "--name", "prefs")
    cli("export", sets("openai_messages.jsonl"), "--to", "llamafactory", "-o", out, "--name", "chat")
    cli("export", sets("unpaired_preference.jsonl"), "--to", "llamafactory", "-o", out, "--name", "kto")
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"theirs", "prefs", "chat", "kto"}  # an existing entry is kept
    assert info["prefs"]["ranking"] is True and info["prefs"]["formatting"] == "sharegpt"
    assert info["prefs"]["columns"]["chosen"] == "chosen"
    assert "ranking" not in info["chat"] and info["kto"]["columns"]["kto_tag"] == "kto_tag"

    prefs = lf_check(out, "prefs")
    assert prefs[0]["chosen"] == {"from": "gpt", "value": "Mount Everest, at 8,849 metres above sea level."}
    chat = lf_check(out, "chat")
    assert any("system" in ex for ex in chat)  # the sample's system message moved to the system column
    kto = lf_check(out, "kto")
    assert {ex["kto_tag"] for ex in kto} == {True, False}
    assert kto[0]["conversations"][-1]["from"] == "gpt"
    assert json.loads((out / "prefs.export.json").read_text())["records"] == len(prefs)


def test_llamafactory_refuses_rows_it_would_skip(tmp_path):
    with ShardWriter(tmp_path / "bad", stage="test", conserving=False) as w:
        w.write({"id": "a", "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]})
    with pytest.raises(InstructkitError, match="alternate"):
        instructkit.api.run_stage("export", w.path, tmp_path / "lf", to="llamafactory")


def test_feedback_and_prompt_sets_are_refused_with_a_hint(tmp_path):
    with ShardWriter(tmp_path / "p", stage="test", conserving=False) as w:
        w.write({"id": "a", "prompt": [{"role": "user", "content": "hi"}]})
    with pytest.raises(InstructkitError, match="prompt records"):
        instructkit.api.run_stage("export", w.path, tmp_path / "x", to="torchtune")


def test_axolotl_snippets(sets, tmp_path):
    out = tmp_path / "ax"
    instructkit.api.run_stage("export", sets("preference.jsonl"), out, to="axolotl", name="prefs")
    instructkit.api.run_stage("export", sets("alpaca.json"), out, to="axolotl", name="sft")
    dpo = yaml.safe_load((out / "prefs.axolotl.yaml").read_text())
    assert dpo["rl"] == "dpo"
    (ds,) = dpo["datasets"]
    assert ds["type"] == "chat_template.default" and ds["ds_type"] == "json"
    row = json.loads(Path(ds["path"]).read_text().splitlines()[0])
    assert row[ds["field_messages"]][-1]["role"] == "user"
    assert row[ds["field_chosen"]]["role"] == "assistant" and isinstance(row[ds["field_rejected"]], dict)
    (sft,) = yaml.safe_load((out / "sft.axolotl.yaml").read_text())["datasets"]
    assert sft["type"] == "chat_template" and "rl" not in yaml.safe_load((out / "sft.axolotl.yaml").read_text())
    first = json.loads(Path(sft["path"]).read_text().splitlines()[0])
    assert [m["role"] for m in first[sft["field_messages"]]][-1] == "assistant"
    with pytest.raises(InstructkitError, match="does not take kto"):
        instructkit.api.run_stage("export", sets("unpaired_preference.jsonl"), out, to="axolotl")


def test_torchtune_preference_holds_whole_conversations(sets, tmp_path):
    out = tmp_path / "tt"
    instructkit.api.run_stage("export", sets("preference.jsonl"), out, to="torchtune", name="prefs")
    block = yaml.safe_load((out / "prefs.torchtune.yaml").read_text())["dataset"]
    assert block["_component_"] == "torchtune.datasets.preference_dataset" and block["source"] == "json"
    rows = [json.loads(x) for x in Path(block["data_files"]).read_text().splitlines()]
    assert rows[0]["chosen"][:-1] == rows[0]["rejected"][:-1]  # the shared prompt
    assert rows[0]["chosen"][0]["role"] == "user" and rows[0]["chosen"][-1]["role"] == "assistant"
    assert rows[0]["chosen"][-1] != rows[0]["rejected"][-1]


def test_existing_export_needs_force(sets, tmp_path):
    src = sets("alpaca.json")
    instructkit.api.run_stage("export", src, tmp_path / "o", to="torchtune", name="a")
    with pytest.raises(InstructkitError, match="already exists"):
        instructkit.api.run_stage("export", src, tmp_path / "o", to="torchtune", name="a")
    instructkit.api.run_stage("export", src, tmp_path / "o", to="torchtune", name="a", force=True)


def test_python_api(sets, tmp_path):
    out = instructkit.export(sets("alpaca.json"), tmp_path / "o", to="llamafactory", name="a")
    assert out == tmp_path / "o" and (out / "a.jsonl").is_file()
    assert instructkit.export.TARGETS == ("llamafactory", "axolotl", "torchtune")
