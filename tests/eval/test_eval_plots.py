"""Eval plots: one panel per loss kind with held-out loss, shared bins and box plots, integer counts,
human labels. The PNGs themselves were looked at (rewards, lengths, training_curves, win_rates)."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from instructkit.eval.report import distribution_figure, human, loss_figure  # noqa: E402


def test_losses_of_different_kinds_get_their_own_panels():
    curves = {
        "sft": {"kind": "sft", "loss": [(1, 3.0), (2, 2.5)], "eval_loss": [(2, 2.7)]},
        "dpo": {"kind": "rlhf-dpo", "loss": [(1, 0.69), (2, 0.6)], "eval_loss": []},
        "dpo2": {"kind": "rlhf-dpo", "loss": [(1, 0.7), (2, 0.65)]},
        "base": {"kind": "model"},  # no log: no panel
    }
    fig = loss_figure(curves, title="t")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["SFT: cross-entropy per token", "DPO loss"]
    sft_labels = [line.get_label() for line in axes[0].lines]
    assert sft_labels == ["sft, training", "sft, held-out (eval)"]
    assert axes[0].lines[1].get_linestyle() == "--" and axes[0].lines[0].get_color() == axes[0].lines[1].get_color()
    assert [line.get_label() for line in axes[1].lines] == ["dpo, training", "dpo2, training"]
    assert isinstance(axes[0].xaxis.get_major_locator(), MaxNLocator)
    plt.close(fig)
    assert loss_figure({"base": {"kind": "model"}}, title="t") is None


def test_noisy_training_loss_is_drawn_with_its_smoothed_trend():
    """The demo's 8 SFT steps on batches of 4 jump (4.45, 2.36, 2.05, 3.18, ...): drawn faint as logged,
    with TensorBoard's debiased moving average on top."""
    from instructkit.eval.report import smooth

    logged = [4.45, 2.36, 2.05, 3.18, 2.01, 2.62, 2.78, 3.37]
    trend = smooth(logged)
    assert trend[0] == pytest.approx(4.45)  # debiased: the first point is itself, not 0.4 of it
    assert trend[1] == pytest.approx((0.6 * 0.4 * 4.45 + 0.4 * 2.36) / (0.6 * 0.4 + 0.4))
    assert max(trend) - min(trend) < max(logged) - min(logged)  # the jumps are damped
    assert smooth([2.0] * 5) == pytest.approx([2.0] * 5)
    fig = loss_figure({"sft": {"kind": "sft", "loss": list(enumerate(logged, 1)), "eval_loss": [(8, 2.5)]}}, title="t")
    raw, smoothed, held_out = fig.axes[0].lines
    assert [raw.get_label(), smoothed.get_label(), held_out.get_label()] == [
        "sft, training (as logged)",
        "sft, training (smoothed)",
        "sft, held-out (eval)",
    ]
    assert list(smoothed.get_ydata()) == pytest.approx(trend) and list(raw.get_ydata()) == logged
    assert raw.get_alpha() < 1 and smoothed.get_linewidth() > raw.get_linewidth()
    plt.close(fig)


def test_distributions_share_bins_and_count_in_integers():
    data = {"a": [0.0, 0.1, 0.2, 5.0], "b": [1.0, 2.0], "empty": []}
    fig = distribution_figure(data, quantity="reward-model score", title="Rewards", bins=10)
    box, hist = fig.axes
    assert [t.get_text() for t in box.get_xticklabels()] == ["a", "b"]  # the model without values is left out
    edges = [tuple(p.get_path().vertices[:, 0].round(6)) for p in hist.patches]
    xs = [sorted(set(e)) for e in edges]
    assert xs[0][0] == xs[1][0] == 0.0 and xs[0][-1] == xs[1][-1] == 5.0  # the same bins for every model
    assert hist.yaxis.get_major_locator()._integer
    assert [t.get_text() for t in hist.get_legend().get_texts()] == ["a (n=4)", "b (n=2)"]
    plt.close(fig)
    assert distribution_figure({"a": []}, quantity="q", title="t") is None


def test_human_labels():
    assert human("length_controlled") == "length-controlled"
    assert human("eval_loss") == "held-out (eval)"
    assert human("some_key") == "some key"
