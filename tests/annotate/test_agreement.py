"""Agreement statistics against published, hand-computed examples (values and sources inline)."""

from __future__ import annotations

import pytest

from instructkit.annotate.agreement import (
    binomial_two_sided_p,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen,
    unit_agreement,
)


def test_cohen_kappa_wikipedia_worked_example():
    # Wikipedia, "Cohen's kappa", simple example: 50 grant proposals, two readers, Yes/No.
    # Both yes 20, A yes/B no 5, A no/B yes 10, both no 15: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_edge_cases():
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["x", "x"], ["x", "x"]) == 1.0  # one label throughout: perfect, not 0/0
    assert cohen_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_fleiss_kappa_wikipedia_worked_example():
    # Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories.
    # Published: P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)
    # Subject 2's per-subject agreement P_2 = 0.253 in the same example.
    labels = [1] * 2 + [2] * 6 + [3] * 4 + [4] * 2
    assert unit_agreement(labels) == pytest.approx(0.253, abs=5e-4)


def test_fleiss_kappa_two_raters_equals_scotts_pi():
    # With 2 raters per subject Fleiss' kappa is Scott's pi: here p_o = 0.5, marginals (0.5, 0.5).
    assert fleiss_kappa([[2, 0], [0, 2], [1, 1], [1, 1]]) == pytest.approx(0.0)
    assert fleiss_kappa([[2, 0], [0, 2]]) == pytest.approx(1.0)
    assert fleiss_kappa([[1, 0]]) is None  # nobody rated twice


KRIPPENDORFF_2011 = [  # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
    # 4 observers (rows A-D) x 12 units, values 1-5, None = missing.
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.mark.parametrize("level,published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_alpha_published_values(level, published):
    # Published in the same paper: nominal 0.743, ordinal 0.815, interval 0.849.
    units = list(zip(*KRIPPENDORFF_2011, strict=True))
    assert krippendorff_alpha(units, level) == pytest.approx(published, abs=5e-4)


def test_krippendorff_alpha_edge_cases():
    assert krippendorff_alpha([[1], [2]], "nominal") is None  # nothing pairable
    assert krippendorff_alpha([[3, 3], [3, 3]], "ordinal") is None  # no variation at all
    assert krippendorff_alpha([[1, 1], [2, 2], [3, 3]], "ordinal") == pytest.approx(1.0)
    with pytest.raises(ValueError):
        krippendorff_alpha([[1, 2]], "ratio")


def test_pairwise_cohen_skips_pairs_with_too_few_shared_units():
    labels = {"a": {1: "x", 2: "y", 3: "x"}, "b": {1: "x", 2: "y", 3: "y"}, "c": {9: "x"}}
    out = pairwise_cohen(labels)
    assert set(out) == {("a", "b")}
    assert out["a", "b"]["n"] == 3
    # p_o = 2/3; a: x 2/3, y 1/3; b: x 1/3, y 2/3 -> p_e = 4/9; kappa = (2/3 - 4/9) / (5/9) = 0.4
    assert out["a", "b"]["kappa"] == pytest.approx(0.4)


def test_binomial_p_value():
    assert binomial_two_sided_p(5, 10) == pytest.approx(1.0)
    # P(X >= 9 or X <= 1) for n=10: (1 + 10 + 10 + 1) / 1024
    assert binomial_two_sided_p(9, 10) == pytest.approx(22 / 1024)
