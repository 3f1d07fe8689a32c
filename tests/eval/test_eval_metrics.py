"""Every eval metric against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from instructkit.errors import ConfigError
from instructkit.eval.metrics import bleu, describe, exact_match, lcs_length, length_stats, rouge_l
from instructkit.eval.rewardbench import pairwise_accuracy
from instructkit.eval.winrate import compare, length_controlled, outcomes, win_rate


def test_bleu_matches_hand_computation():
    # hyp "the cat sat on the mat" vs ref "the cat sat on a mat" (13a tokens = words here):
    # clipped n-gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths -> brevity penalty 1;
    # BLEU = 100 * (5/6 * 3/5 * 1/2 * 1/3) ** (1/4) = 100 * (1/12) ** 0.25.
    assert bleu(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(100 * (1 / 12) ** 0.25, abs=1e-9)
    # A short but exact prefix: all precisions 1; brevity penalty exp(1 - r/c) = exp(1 - 6/4).
    assert bleu(["the cat sat on"], ["the cat sat on the mat"]) == pytest.approx(100 * math.exp(-0.5), abs=1e-9)
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    # Corpus BLEU pools counts over sentences (not an average of sentence scores): two identical
    # halves give the same score as one.
    assert bleu(["the cat sat on the mat"] * 2, ["the cat sat on a mat"] * 2) == pytest.approx(100 * (1 / 12) ** 0.25)
    with pytest.raises(ConfigError):
        bleu(["a"], [])


def test_rouge_l_is_the_lcs_f_measure():
    hyp, ref = "a cat sat on the mat today", "the cat was on the mat"
    # LCS = "cat on the mat" = 4 tokens; P = 4/7, R = 4/6, F = 2PR/(P+R) = 32/52.
    assert lcs_length(hyp.split(), ref.split()) == 4
    scores = rouge_l([hyp], [ref])
    assert scores["precision"] == pytest.approx(4 / 7)
    assert scores["recall"] == pytest.approx(4 / 6)
    assert scores["f1"] == pytest.approx(32 / 52)
    # Averaged over examples: (32/52 + 0) / 2; rouge-score lowercases and drops punctuation.
    assert rouge_l([hyp, "xyz"], [ref, "abc"])["f1"] == pytest.approx(16 / 52)
    assert rouge_l(["The CAT!"], ["the cat"])["f1"] == pytest.approx(1.0)
    assert lcs_length([], ["a"]) == 0 and lcs_length(list("abcbdab"), list("bdcaba")) == 4  # CLRS example


def test_exact_match_normalises_whitespace_only():
    hyps = ["  Yes.  ", "no", "Hello \n world", "x"]
    refs = ["Yes.", "No", "Hello world", "y"]
    assert exact_match(hyps, refs) == pytest.approx(2 / 4)  # "no" != "No": case counts
    assert exact_match([], []) == 0.0


def test_length_stats():
    stats = length_stats(["a b c", "", "dd"])
    assert stats["words"]["mean"] == pytest.approx((3 + 0 + 1) / 3)
    assert stats["chars"]["max"] == 5.0 and stats["chars"]["min"] == 0.0
    assert stats["empty_fraction"] == pytest.approx(1 / 3)
    d = describe([1.0, 2.0, 3.0, 4.0, 5.0])
    assert d["median"] == 3.0 and d["p10"] == pytest.approx(1.4) and d["p90"] == pytest.approx(4.6)  # numpy linear
    assert describe([]) == {"n": 0}


def test_win_rate_with_ties_and_bootstrap():
    out = outcomes([3, 1, 2, 2, 5], [1, 2, 2, 0, 5])
    assert out == [1.0, 0.0, 0.5, 1.0, 0.5]
    wr = win_rate(out, n_boot=500, seed=7)
    assert wr["win_rate"] == pytest.approx(3 / 5)  # (1 + 0 + 0.5 + 1 + 0.5) / 5
    assert (wr["wins"], wr["ties"], wr["losses"]) == (2, 2, 1)
    lo, hi = wr["ci"]
    assert 0.0 <= lo <= 0.6 <= hi <= 1.0 and lo < hi
    assert win_rate(out, n_boot=500, seed=7)["ci"] == wr["ci"]  # deterministic under a seed
    # A tie margin turns small differences into ties.
    assert outcomes([1.0, 1.05], [1.02, 1.0], tie_margin=0.1) == [0.5, 0.5]
    with pytest.raises(ConfigError):
        outcomes([1], [1, 2])
    assert win_rate([])["win_rate"] is None


def test_bootstrap_interval_narrows_with_more_data():
    small = win_rate([1.0, 0.0] * 5, n_boot=400, seed=0)["ci"]
    large = win_rate([1.0, 0.0] * 200, n_boot=400, seed=0)["ci"]
    assert (large[1] - large[0]) < (small[1] - small[0])


def test_length_controlled_equals_raw_when_lengths_are_equal():
    out = [1.0, 0.0, 0.5, 1.0, 1.0, 0.0, 1.0]
    lc = length_controlled(out, [10] * 7, [10] * 7, n_boot=100)
    assert lc["win_rate"] == pytest.approx(sum(out) / len(out), abs=1e-9)
    assert lc["length_coef"] == pytest.approx(0.0, abs=1e-12)


def test_length_controlled_discounts_longer_winners():
    # The model wins mostly where it answered longer: part of its raw 0.6 is a length effect.
    out = [1, 1, 1, 1, 1, 0, 1, 0, 0, 0]
    diffs = [50, 40, 30, 20, 10, 15, -5, -10, -20, -30]
    lengths = [100 + d for d in diffs]
    lc = length_controlled([float(o) for o in out], lengths, [100] * 10, n_boot=200, seed=0)
    assert lc["length_coef"] > 0
    assert lc["win_rate"] < 0.6  # raw rate: 6/10
    # Mirror image: the model loses where it is longer (raw 0.4) -> the controlled rate rises above
    # raw, exactly to 1 - the rate above (the logistic fit is symmetric in the labels).
    mirror = length_controlled([1.0 - o for o in out], lengths, [100] * 10, n_boot=50)
    assert mirror["length_coef"] < 0 and mirror["win_rate"] > 0.4
    assert mirror["win_rate"] == pytest.approx(1 - lc["win_rate"], abs=1e-6)
    both = compare([2.0 if o else 0.0 for o in out], [1.0] * 10, lengths, [100] * 10, n_boot=50)
    assert both["raw"]["win_rate"] == pytest.approx(0.6)
    assert both["length_controlled"]["win_rate"] == pytest.approx(lc["win_rate"])


def test_rewardbench_accuracy_counts_ties_as_wrong():
    acc = pairwise_accuracy([1.0, 2.0, 3.0, 0.5], [0.0, 2.0, 4.0, 0.5])
    assert acc["accuracy"] == pytest.approx(1 / 4)  # only 1 > 0; the two ties are wrong
    assert (acc["correct"], acc["ties"], acc["n"]) == (1, 2, 4)
    assert acc["mean_margin"] == pytest.approx((1 + 0 - 1 + 0) / 4)
    assert pairwise_accuracy([0.0] * 3, [0.0] * 3)["accuracy"] == 0.0  # a constant model scores 0, not 0.5
    with pytest.raises(ConfigError):
        pairwise_accuracy([1.0], [])


def test_model_names_are_short_and_unique():
    from instructkit.eval.runner import model_names

    assert model_names(["out/sft", "out/dpo"]) == ["sft", "dpo"]
    assert model_names(["a/model", "b/model"]) == ["a/model", "b/model"]
    # Directories named by `instructkit run`'s cache key are labelled by their stage directory.
    assert model_names(["w/models/sft/90f943d1cc0a", "w/models/dpo/686e62018350"]) == ["sft", "dpo"]
