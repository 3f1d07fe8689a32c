"""quality over chunk tasks: many small chunks, --workers 2 and one pass give the same quality.json.

The chunk size is made small (``tasks.CHUNK``) so that every merge has something to get wrong:
conflicting answers, flipped pairs, near duplicates and clarity examples that fall in different
chunks. The Ray executor is checked on a real local cluster in tests/test_ray.py.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from instructkit import api
from instructkit.errors import ConfigError
from instructkit.filters._text import words
from instructkit.quality import QualityParams, tasks
from instructkit.quality.clarity import Clarity
from instructkit.quality.diversity import NGrams, distinct_n

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _rows() -> list[dict]:
    """Conflicts, missing inputs and near duplicates spread far apart, between the sample files."""
    rows = []
    for i in range(8):
        rows.append({"instruction": f"What is {i} times 3?", "output": str(3 * i), "answer": str(3 * i)})
        rows.append({"instruction": "Summarize the following text.", "output": f"Summary number {i}."})
        rows.append(
            {
                "instruction": f"Write a short story about a brave little {['cat', 'dog'][i % 2]} who "
                "crosses the wide river at night to find her way home again",
                "output": f"Once upon a time {i}.",
            }
        )
    for i in range(8):
        rows.append({"instruction": f"what is {i} times 3", "output": "wrong", "answer": str(3 * i)})
    return rows


def _ingest(tmp_path: Path, files: list, name: str) -> Path:
    return Path(api.ingest([str(f) for f in files], tmp_path / name))


@pytest.fixture
def mixed(tmp_path) -> Path:
    hand = tmp_path / "hand.jsonl"
    hand.write_text("".join(json.dumps(r) + "\n" for r in _rows()), encoding="utf-8")
    files = [SAMPLES / "alpaca.jsonl", hand, SAMPLES / "self_instruct_seeds.jsonl", SAMPLES / "dolly.jsonl"]
    return _ingest(tmp_path, files, "mixed")


@pytest.fixture
def prefs(tmp_path) -> Path:
    flips = tmp_path / "flips.jsonl"
    pair = {"prompt": "Which is bigger, 3 or 7?", "chosen": "7 is bigger.", "rejected": "3 is bigger."}
    flipped = {**pair, "chosen": pair["rejected"], "rejected": pair["chosen"]}
    flips.write_text(json.dumps(pair) + "\n", encoding="utf-8")
    flips2 = tmp_path / "flips2.jsonl"
    flips2.write_text(json.dumps(flipped) + "\n", encoding="utf-8")
    return _ingest(tmp_path, [flips, SAMPLES / "preference.jsonl", flips2], "prefs")


def _report(out: Path) -> bytes:
    return (Path(out) / "quality.json").read_bytes()


def test_chunks_and_workers_give_the_one_pass_report(mixed, tmp_path, monkeypatch):
    one = _report(api.quality(mixed, tmp_path / "one"))  # 2,048 records a task: one task
    monkeypatch.setattr(tasks, "CHUNK", 5)
    chunked = _report(api.quality(mixed, tmp_path / "chunked"))
    two = _report(api.quality(mixed, tmp_path / "two", workers=2))
    doc = json.loads(one)
    assert doc["records"] > 10 * 5, "the set must span many chunks"
    # 8 sums (each 24 records or more from its wrong answer), the summary, the cat and the dog story
    assert doc["consistency"]["conflicting_prompts"] == 11
    assert doc["diversity"]["near_duplicates"]["clusters"] >= 1
    assert doc["clarity"]["checks"]["missing_input"]["count"] >= 8  # examples: the first 3, from 3 chunks
    assert doc["accuracy"]["gold"]["records"] == 16
    assert chunked == one
    assert two == one


def test_cli_workers_compare_and_preferences(prefs, mixed, tmp_path, monkeypatch, cli):
    one = _report(api.quality(prefs, tmp_path / "one", compare=str(mixed)))
    monkeypatch.setattr(tasks, "CHUNK", 3)
    cli("quality", prefs, "-o", tmp_path / "two", "--compare", mixed, "--workers", "2")
    assert _report(tmp_path / "two") == one
    doc = json.loads(one)
    assert doc["consistency"]["flipped_pairs"] == 1  # the two records are in the first and the last chunk
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["params"]["workers"] == 2 and "executor" not in manifest["params"]


def _exact_distinct(texts: list[str]) -> dict:
    """distinct-n with exact n-gram sets (what the hashed counts must equal)."""
    seen: dict[int, set] = {1: set(), 2: set(), 3: set()}
    total = dict.fromkeys(seen, 0)
    for text in texts:
        toks = [t.casefold() for t in words(text)]
        for n in seen:
            grams = list(zip(*(toks[k:] for k in range(n)), strict=False))
            total[n] += len(grams)
            seen[n].update(grams)
    return {f"distinct_{n}": round(len(seen[n]) / total[n], 4) if total[n] else None for n in seen}


def test_ngram_hashes_count_like_exact_sets_and_merge():
    texts = [json.loads(line)["instruction"] for line in (SAMPLES / "alpaca.jsonl").read_text().splitlines()]
    texts += ["a b a b", "A B", "秋天 秋天 的 诗", "", "one"]
    assert distinct_n(texts) == _exact_distinct(texts)
    merged = NGrams()
    for s in range(0, len(texts), 4):  # chunk counts, each sent through pickle as a task's result is
        part = NGrams()
        part.add(texts[s : s + 4])
        merged.merge(pickle.loads(pickle.dumps(part)))
    assert merged.result() == distinct_n(texts)


def test_clarity_merge_keeps_the_first_examples():
    def record(i: int, text: str) -> dict:
        msgs = [{"role": "user", "content": text}, {"role": "assistant", "content": "A fine answer here."}]
        return {"id": str(i), "messages": msgs, "meta": {}}

    texts = ["Hi", "Write a poem about the sea.", "Hi", "Hi", "Classify this sentence:", "Hi"]
    whole, parts = Clarity(), [Clarity(), Clarity(), Clarity()]
    for i, text in enumerate(texts):
        whole.add(record(i, text), text)
        parts[i // 2].add(record(i, text), text)
    merged = Clarity()
    for part in parts:
        merged.merge(pickle.loads(pickle.dumps(part)))
    assert merged.result() == whole.result()
    assert whole.result()["checks"]["instruction_words"]["examples"] == ["0", "2", "3"]


def test_workers_and_executor_are_checked():
    with pytest.raises(ConfigError, match="workers"):
        QualityParams(workers=0)
    with pytest.raises(ConfigError, match="unknown executor"):
        QualityParams(executor="spark")
