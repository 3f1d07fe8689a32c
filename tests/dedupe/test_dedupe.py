"""dedupe: exact and near duplicates on the samples and on synthetic sets, the character fallback,
--verify, keeper policies, --against, conservation and the clusters file."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest

from instructkit.dedupe.normalize import text_for
from instructkit.dedupe.shingle import shingle_hashes
from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter, verify

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu river stone cloud light paper "
    "glass water metal forest music number garden window"
).split()


def _rec(prompt: str, answer: str, **meta) -> dict:
    return make_record(
        "sft", messages=[message("user", prompt), message("assistant", answer)], source={"file": "t"}, meta=meta
    )


def _write(path, records) -> ShardSet:
    with ShardWriter(path, stage="test") as w:
        for r in records:
            w.count_in()
            w.write(r)
    return ShardSet(w.path)


def _sentence(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(n)]


def _edit(words: list[str], k: int, rng: random.Random) -> list[str]:
    out = list(words)
    for i in rng.sample(range(len(out)), k):
        out[i] = f"edit{rng.randrange(10**6)}"
    return out


def _jaccard(a: str, b: str, ngram: int = 5) -> float:
    x, y = np.unique(shingle_hashes(a, ngram)), np.unique(shingle_hashes(b, ngram))
    inter = len(np.intersect1d(x, y))
    return inter / (len(x) + len(y) - inter)


def _rejected(path) -> list[dict]:
    s = ShardSet(path)
    return list(s.rejected) if s.rejected else []


def test_samples_exact_and_near_duplicates(cli, samples, tmp_path):
    for name in ("alpaca.json", "alpaca.jsonl", "sharegpt.json"):
        cli("ingest", samples / name, "-o", tmp_path / "in")
    # Three sets, one after another; dedupe each (the samples' near duplicates are short texts:
    # word 3-grams at 0.7 catch them, the next most similar pair is at 0.22).
    found = {}
    for v in ("v0001", "v0002", "v0003"):
        cli("dedupe", tmp_path / "in" / v, "-o", tmp_path / "out" / v, "--ngram", 3, "--threshold", 0.7, "--verify")
        assert verify(tmp_path / "out" / v) == []
        for r in _rejected(tmp_path / "out" / v):
            found.setdefault(r["meta"]["reject"]["reason"], []).append(r["messages"][0]["content"])
    exact, near = " | ".join(found["exact_duplicate"]), " | ".join(found["near_duplicate"])
    assert "capital of Australia" in exact and "list and a tuple" in exact
    assert "working from home" in near and "largest planet" in near and "list and a tuple" in near
    assert len(found["exact_duplicate"]) == 2 and len(found["near_duplicate"]) == 3


def test_defaults_find_injected_near_duplicates_and_conserve(cli, tmp_path):
    rng = random.Random(1)
    base = [_rec(" ".join(_sentence(rng, 12)), " ".join(_sentence(rng, 60))) for _ in range(200)]
    dups = []
    for r in base[:40]:  # one word in sixty changed: word 5-gram Jaccard about 0.85
        words = r["messages"][1]["content"].split()
        dups.append(_rec(r["messages"][0]["content"], " ".join(_edit(words, 1, rng))))
    copies = [dict(r, id=r["id"] + "-copy") for r in base[40:50]]
    src = _write(tmp_path / "in", base + dups + copies)
    result = cli("dedupe", src.path, "-o", tmp_path / "out")
    out = ShardSet(tmp_path / "out")
    counts = out.manifest["counts"]
    assert counts["in"] == 250 == counts["kept"] + sum(counts["rejected"].values())
    assert counts["rejected"].get("exact_duplicate") == 10
    assert counts["rejected"].get("near_duplicate", 0) >= 36  # an edit near the end changes fewer shingles
    assert verify(out.path) == []
    assert "rejected: near_duplicate" in result.output
    # Audit trail: every rejected record names a kept record and the clusters file agrees.
    kept_ids = {r["id"] for r in out}
    clusters = [json.loads(line) for line in (out.path / "clusters.jsonl").read_text().splitlines()]
    members = {m for c in clusters for m in c["members"][1:]}
    for r in _rejected(out.path):
        rej = r["meta"]["reject"]
        assert rej["stage"] == "dedupe" and rej["duplicate_of"] in kept_ids and rej["id"] if False else True
        assert rej["duplicate_of"] in kept_ids and r["id"] in members and 0.0 < rej["similarity"] <= 1.0
    assert all(c["kept"] in kept_ids and c["members"][0] == c["kept"] for c in clusters)
    sizes = out.manifest["stats"]["cluster_sizes"]
    final = out.manifest["stats"]["dedupe"]["clusters"]
    assert sum(int(k) * v for k, v in sizes.items()) == final + sum(counts["rejected"].values())
    by_mode = out.manifest["stats"]["cluster_sizes_by_mode"]  # one entry per clusters.jsonl line
    assert sum(v for m in by_mode.values() for v in m.values()) == len(clusters)
    assert "clusters.jsonl" in out.manifest["files"]
    stats = cli("stats", out.path).output
    assert "clusters" in stats and re.search(rf"│ 2\s*│ {sizes['2']}\s*│", stats)


def test_chinese_near_duplicates_via_character_shingles(cli, tmp_path):
    zh = [
        "机器学习是人工智能的一个分支，它使计算机能够从数据中学习规律，而不需要明确的编程指令。",
        "长城是中国古代的军事防御工程，修建历史可以追溯到春秋战国时期，总长度超过两万公里。",
        "光合作用是植物利用阳光、水和二氧化碳制造有机物并释放氧气的过程，对地球生命至关重要。",
    ]
    near = zh[0].replace("明确的", "清楚的")  # two characters changed
    recs = [_rec("请解释。", t) for t in zh] + [_rec("请解释。", near)]
    assert _jaccard(zh[0], near) >= 0.8  # by characters; as words the whole text is one token
    src = _write(tmp_path / "in", recs)
    cli("dedupe", src.path, "-o", tmp_path / "out", "--fields", "response", "--verify")
    rej = _rejected(tmp_path / "out")
    assert [r["messages"][1]["content"] for r in rej] == [near]
    assert rej[0]["meta"]["reject"]["reason"] == "near_duplicate"
    assert rej[0]["meta"]["reject"]["duplicate_of"] == recs[0]["id"]


def test_verify_never_removes_a_pair_below_threshold(cli, tmp_path):
    rng = random.Random(7)
    recs, texts = [], {}
    for _ in range(30):
        words = _sentence(rng, 80)
        for k in range(0, 7):  # 0..6 words changed: Jaccard from 1.0 down to about 0.65
            r = _rec("q", " ".join(_edit(words, k, rng)) + f" v{k}")
            recs.append(r)
            texts[r["id"]] = r["messages"][1]["content"]
    src = _write(tmp_path / "in", recs)
    cli(
        "dedupe",
        src.path,
        "-o",
        tmp_path / "out",
        "--mode",
        "minhash",
        "--fields",
        "response",
        "--verify",
        "--num-perm",
        64,
    )
    rej = _rejected(tmp_path / "out")
    assert len(rej) > 30
    for r in rej:
        rj = r["meta"]["reject"]
        true = _jaccard(texts[r["id"]], texts[rj["duplicate_of"]])
        assert true >= 0.8 and abs(true - rj["similarity"]) < 1e-3


@pytest.mark.parametrize("keep,expect", [("first", 0), ("longest", 2), ("highest:quality", 1)])
def test_keeper_policies(cli, tmp_path, keep, expect):
    rng = random.Random(3)
    words = _sentence(rng, 60)
    recs = [
        _rec("same prompt", " ".join(words), quality=0.2),
        _rec("same prompt", " ".join(_edit(words, 1, rng)), quality=0.9),
        _rec("same prompt", " ".join(words) + " extra", quality=0.5),
        _rec("other", " ".join(_sentence(rng, 60))),
    ]
    src = _write(tmp_path / "in", recs)
    cli("dedupe", src.path, "-o", tmp_path / "out", "--keep", keep, "--verify")
    out = ShardSet(tmp_path / "out")
    kept = [r["id"] for r in out]
    assert kept == [recs[i]["id"] for i in sorted({expect, 3})]
    assert {r["meta"]["reject"]["duplicate_of"] for r in out.rejected} == {recs[expect]["id"]}
    assert next(r for r in out if r["id"] == recs[expect]["id"])["meta"]["dedupe"]["clusters"] == [0]


def test_against_removes_contamination_only(cli, tmp_path):
    rng = random.Random(5)
    evals = [_rec(" ".join(_sentence(rng, 60)), "answer") for _ in range(5)]
    eval_set = _write(tmp_path / "eval", evals + [evals[0]])  # the eval set's own duplicate stays
    train = [_rec(" ".join(_sentence(rng, 60)), "answer") for _ in range(20)]
    leaked = [_rec(" ".join(_edit(evals[i]["messages"][0]["content"].split(), 1, rng)), "answer") for i in (1, 2)]
    exact_leak = [dict(evals[3], id="leak3")]
    twin = [dict(train[0], id="twin")]
    src = _write(tmp_path / "in", train + leaked + exact_leak + twin)
    cli("dedupe", src.path, "-o", tmp_path / "out", "--against", eval_set.path, "--fields", "prompt", "--verify")
    rej = {r["id"]: r["meta"]["reject"] for r in _rejected(tmp_path / "out")}
    contaminated = {i: r for i, r in rej.items() if r["reason"] == "contaminated"}
    assert set(contaminated) == {leaked[0]["id"], leaked[1]["id"], "leak3"}
    assert {r["duplicate_of"] for r in contaminated.values()} == {evals[1]["id"], evals[2]["id"], evals[3]["id"]}
    assert all(r["against"] == str(eval_set.path) for r in contaminated.values())
    assert rej["twin"]["reason"] == "exact_duplicate"
    out = ShardSet(tmp_path / "out")
    assert out.manifest["counts"]["kept"] == 20 and verify(out.path) == []
    assert len(ShardSet(eval_set.path)) == 6  # untouched
    assert [i["path"] for i in out.manifest["inputs"]] == [str(src.path), str(eval_set.path)]


def test_exact_normalisation_switches(cli, tmp_path):
    src = _write(tmp_path / "in", [_rec("Hello,   World!", "Yes."), _rec("hello world", "yes")])
    cli("dedupe", src.path, "-o", tmp_path / "a", "--mode", "exact")
    assert len(ShardSet(tmp_path / "a")) == 1
    cli("dedupe", src.path, "-o", tmp_path / "b", "--mode", "exact", "--no-fold-case")
    assert len(ShardSet(tmp_path / "b")) == 2
    cli("dedupe", src.path, "-o", tmp_path / "c", "--mode", "exact", "--no-fold-punctuation")
    assert len(ShardSet(tmp_path / "c")) == 2


def test_fields_choose_what_is_compared(cli, tmp_path):
    src = _write(
        tmp_path / "in",
        [_rec("Same question here?", "First answer."), _rec("Same question here?", "A different answer.")],
    )
    cli("dedupe", src.path, "-o", tmp_path / "p", "--fields", "prompt")
    cli("dedupe", src.path, "-o", tmp_path / "c", "--fields", "conversation")
    assert (len(ShardSet(tmp_path / "p")), len(ShardSet(tmp_path / "c"))) == (1, 2)
    assert text_for(_rec("q", "a"), "response") == "a"


def test_chain_points_to_the_survivor(cli, tmp_path):
    rng = random.Random(11)
    words = _sentence(rng, 60)
    a = _rec("p", " ".join(words))
    b = _rec("p", " ".join(_edit(words, 1, rng)))
    b_copy = dict(b, id="b-copy")
    src = _write(tmp_path / "in", [a, b, b_copy])
    cli("dedupe", src.path, "-o", tmp_path / "out", "--verify")
    rej = {r["id"]: r["meta"]["reject"] for r in _rejected(tmp_path / "out")}
    assert rej[b["id"]]["duplicate_of"] == a["id"] and rej["b-copy"]["duplicate_of"] == a["id"]
    assert rej["b-copy"]["matched"] == b["id"] and rej["b-copy"]["similarity"] == rej[b["id"]]["similarity"]


def test_cluster_sizes_count_final_clusters_once(cli, tmp_path):
    # b and b-copy are an exact pair whose survivor b is a near duplicate of a: one final cluster
    # {a, b, b-copy} of size 3, not an exact cluster of 2 plus a near cluster of 2.
    rng = random.Random(11)
    words = _sentence(rng, 60)
    a = _rec("p", " ".join(words))
    b = _rec("p", " ".join(_edit(words, 1, rng)))
    c = _rec("p", " ".join(_sentence(rng, 60)))  # unrelated: an exact pair of its own
    alone = _rec("p", " ".join(_sentence(rng, 60)))
    recs = [a, b, dict(b, id="b-copy"), c, dict(c, id="c-copy"), alone]
    src = _write(tmp_path / "in", recs)
    result = cli("dedupe", src.path, "-o", tmp_path / "out", "--verify")
    assert re.search(r"clusters\W+2 \(sizes 2: 1, 3: 1\)", result.output)  # the summary line agrees
    out = ShardSet(tmp_path / "out")
    stats = out.manifest["stats"]
    assert stats["cluster_sizes"] == {"2": 1, "3": 1}
    assert stats["cluster_sizes_by_mode"] == {"exact": {"2": 2}, "near": {"2": 1}}
    assert stats["dedupe"]["clusters"] == 2 and stats["dedupe"]["stage_clusters"] == 3
    in_clusters = len(recs) - 1  # every record but `alone`
    assert sum(int(k) * v for k, v in stats["cluster_sizes"].items()) == in_clusters
    assert len(out) + sum(out.manifest["counts"]["rejected"].values()) == len(recs)


def test_workers_give_the_same_set(cli, tmp_path):
    rng = random.Random(2)
    base = [_rec("q", " ".join(_sentence(rng, 40))) for _ in range(1500)]
    recs = base + [_rec("q", " ".join(_edit(r["messages"][1]["content"].split(), 1, rng))) for r in base[:300]]
    src = _write(tmp_path / "in", recs)
    cli("dedupe", src.path, "-o", tmp_path / "one")
    cli("dedupe", src.path, "-o", tmp_path / "two", "--workers", 2)
    one, two = ShardSet(tmp_path / "one"), ShardSet(tmp_path / "two")
    assert one.fingerprint == two.fingerprint and one.rejected.fingerprint == two.rejected.fingerprint
    assert len(one) < 1800


def test_config_file_and_set(cli, tmp_path):
    src = _write(tmp_path / "in", [_rec("a b c", "d e f")])
    cfg = tmp_path / "d.yaml"
    cfg.write_text("threshold: 0.7\nmode: minhash\nnum_perm: 64\n")
    cli("dedupe", src.path, "-o", tmp_path / "out", "--config", cfg, "--set", "ngram=3", "--threshold", 0.75)
    params = ShardSet(tmp_path / "out").manifest["params"]
    assert (params["threshold"], params["mode"], params["num_perm"], params["ngram"]) == (0.75, ["minhash"], 64, 3)
    assert params["bands"] is None  # chosen at run time; the choice is in stats
    assert ShardSet(tmp_path / "out").manifest["stats"]["dedupe"]["bands"] > 0


@pytest.mark.parametrize(
    "args,message",
    [
        (("--mode", "fuzzy"), "unknown mode fuzzy"),
        (("--bands", "4"), "give both bands and rows"),
        (("--bands", "20", "--rows", "10"), "at most num_perm"),
        (("--keep", "best"), "unknown --keep 'best'"),
        (("--threshold", "1.5"), "threshold must be in (0, 1]"),
        (("--set", "nope=1"), "unknown key 'nope'"),
        (("--against", "/does/not/exist"), "no such shard set"),
        (("--mode", "semantic", "--model", "/does/not/exist/encoder"), "model directory not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, args, message):
    src = _write(tmp_path / "in", [_rec("a", "b")])
    result = cli("dedupe", src.path, "-o", tmp_path / "out", *args, ok=False)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("v*"))


def test_bands_match_datasketch_objective():
    from datasketch.lsh import _optimal_param

    from instructkit.dedupe.minhash import optimal_bands

    for t in (0.5, 0.8, 0.9):
        assert optimal_bands(t, 128) == _optimal_param(t, 128, 0.5, 0.5)


def test_signature_estimates_track_true_jaccard():
    from instructkit.dedupe.minhash import estimate, permutations, signatures
    from instructkit.dedupe.shingle import batch_shingles

    rng = random.Random(4)
    words = _sentence(rng, 200)
    texts = [" ".join(words)] + [" ".join(_edit(words, k, rng)) for k in (2, 6, 15, 40)]
    h, lens = batch_shingles(texts)
    sigs = signatures(h, lens, permutations(256))
    pairs = np.array([[0, i] for i in range(1, 5)])
    est = estimate(sigs, pairs)
    true = np.array([_jaccard(texts[0], texts[i]) for i in range(1, 5)])
    assert np.all(np.abs(est - true) < 0.1) and true[0] > 0.9 > 0.4 > true[-1]
    # Batching does not change a text's shingles; empty texts get none.
    assert np.array_equal(batch_shingles(["", texts[1], "!!"])[1], [0, len(shingle_hashes(texts[1])), 0])


def test_empty_texts_are_nobodys_duplicate(cli, tmp_path):
    recs = [_rec(f"question {i}?", "") for i in range(3)] + [_rec("?", "!!")] + [_rec("q", "real answer")] * 2
    src = _write(tmp_path / "in", recs)
    cli("dedupe", src.path, "-o", tmp_path / "out", "--fields", "response")
    out = ShardSet(tmp_path / "out")
    assert len(out) == 5 and out.manifest["counts"]["rejected"] == {"exact_duplicate": 1}


def test_explicit_bands_and_rows(cli, tmp_path):
    rng = random.Random(9)
    words = _sentence(rng, 60)
    src = _write(tmp_path / "in", [_rec("p", " ".join(words)), _rec("p", " ".join(_edit(words, 1, rng)))])
    cli("dedupe", src.path, "-o", tmp_path / "out", "--mode", "minhash", "--bands", 32, "--rows", 4)
    out = ShardSet(tmp_path / "out")
    st = out.manifest["stats"]["dedupe"]
    assert (st["bands"], st["rows"], st["candidate_pairs"]) == (32, 4, 1) and len(out) == 1
