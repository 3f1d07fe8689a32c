"""Annotation quality: agreement per template and per annotator, position bias, disputed tasks.

Units of agreement per template:

- pairwise: one unit per task; the label is the side chosen (left/right).
- rating: one unit per (task, criterion); the label is the 1..max rating (ordinal).
- ranking: one unit per (task, response) with its position (ordinal), and per task the top choice.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from instructkit.annotate.agreement import (
    binomial_two_sided_p,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen,
    unit_agreement,
)

Units = dict[object, dict[str, object]]  # unit -> {annotator: value}


def units_of(template: str, by_task: dict[str, list[dict]]) -> dict[str, tuple[Units, str]]:
    """The agreement units of a template: ``{name: (units, level)}``."""
    out: dict[str, tuple[Units, str]] = {}
    if template == "pairwise":
        # The label is the side chosen: on one task the same side means the same response, and with
        # left/right randomised the two labels are about equally common. Labelling by response index
        # instead makes kappa collapse when the lower index is usually better (the kappa paradox,
        # Feinstein and Cicchetti 1990).
        units: Units = {t: {j["annotator"]: j["selected"] for j in js} for t, js in by_task.items()}
        out["winner"] = (units, "nominal")
    elif template == "rating":
        per_criterion: dict[str, Units] = defaultdict(dict)
        for t, js in by_task.items():
            for j in js:
                for c, r in j["ratings"].items():
                    per_criterion[c].setdefault((t, c), {})[j["annotator"]] = r
        allc: Units = {}
        for c, units in sorted(per_criterion.items()):
            out[f"rating:{c}"] = (units, "ordinal")
            allc.update(units)
        if len(per_criterion) > 1:
            out["rating:all"] = (allc, "ordinal")
    elif template == "ranking":
        top = {t: {j["annotator"]: j["order"][0] for j in js} for t, js in by_task.items()}
        pos: Units = {}
        for t, js in by_task.items():
            for j in js:
                for p, i in enumerate(j["order"]):
                    pos.setdefault((t, i), {})[j["annotator"]] = p + 1
        out["top choice"] = (top, "nominal")
        out["positions"] = (pos, "ordinal")
    return out


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def agreement_stats(units: Units, level: str) -> dict:
    """Krippendorff's alpha (at ``level``, plus interval for ordinal data), Fleiss' kappa, Cohen's kappa."""
    shared = {u: v for u, v in units.items() if len(v) >= 2}
    values = [list(v.values()) for v in shared.values()]
    cats = sorted({x for v in values for x in v}, key=str)
    table = [[Counter(v)[c] for c in cats] for v in values]
    by_annotator: dict[str, dict] = defaultdict(dict)
    for u, v in shared.items():
        for a, x in v.items():
            by_annotator[a][u] = x
    cohen = pairwise_cohen(by_annotator)
    kappas = [p["kappa"] for p in cohen.values() if p["kappa"] is not None]
    out = {
        "units": len(units),
        "units_with_2plus": len(shared),
        "level": level,
        "krippendorff_alpha": _rounded(krippendorff_alpha(values, level)),
        "fleiss_kappa": _rounded(fleiss_kappa(table)) if table else None,
        "cohen_kappa_mean": _rounded(statistics.mean(kappas)) if kappas else None,
        "cohen_pairs": {f"{a} | {b}": {"kappa": _rounded(p["kappa"]), "n": p["n"]} for (a, b), p in cohen.items()},
        "percent_agreement": _rounded(statistics.mean(unit_agreement(v) for v in values)) if values else None,
    }
    if level == "ordinal":
        out["krippendorff_alpha_interval"] = _rounded(krippendorff_alpha(values, "interval"))
        out["krippendorff_alpha_nominal"] = _rounded(krippendorff_alpha(values, "nominal"))
    return out


def annotator_stats(units: Units) -> dict[str, dict]:
    """Per annotator: units, mean Cohen's kappa with each other annotator, agreement with the others' majority."""
    by_annotator: dict[str, dict] = defaultdict(dict)
    for u, v in units.items():
        for a, x in v.items():
            by_annotator[a][u] = x
    cohen = pairwise_cohen(by_annotator)
    out = {}
    for a in sorted(by_annotator):
        ks = [p["kappa"] for pair, p in cohen.items() if a in pair and p["kappa"] is not None]
        agree = total = 0
        for u, x in by_annotator[a].items():
            others = Counter(y for b, y in units[u].items() if b != a)
            if sum(others.values()) < 2:
                continue
            (top, n_top), *rest = others.most_common()
            if rest and rest[0][1] == n_top:
                continue  # the others are split: no majority to agree with
            total += 1
            agree += x == top
        out[a] = {
            "units": len(by_annotator[a]),
            "cohen_kappa_mean": _rounded(statistics.mean(ks)) if ks else None,
            "majority_agreement": _rounded(agree / total) if total else None,
            "majority_units": total,
        }
    return out


def position_bias(judgments: list[dict]) -> dict:
    """How often 'left' was chosen in pairwise tasks, overall and per annotator, with a binomial p-value.

    With left/right randomised per task, an unbiased annotator picks left about half the time; a
    rate far from 0.5 (small p) means position bias (Zheng et al. 2023, "Judging LLM-as-a-judge",
    measured the same effect for LLM judges). Aggregation already uses response indices, so the
    bias does not leak into the pairs; it only signals careless annotators.
    """
    pw = [j for j in judgments if j["type"] == "pairwise"]
    per: dict[str, list[int]] = defaultdict(list)
    for j in pw:
        per[j["annotator"]].append(j["selected"] == "left")
    left = sum(j["selected"] == "left" for j in pw)
    return {
        "n": len(pw),
        "left": left,
        "left_rate": _rounded(left / len(pw)) if pw else None,
        "p_value": _rounded(binomial_two_sided_p(left, len(pw))) if pw else None,
        "per_annotator": {
            a: {
                "n": len(v),
                "left_rate": _rounded(sum(v) / len(v)),
                "p_value": _rounded(binomial_two_sided_p(sum(v), len(v))),
            }
            for a, v in sorted(per.items())
        },
    }


def task_agreement(template: str, judgments: list[dict], max_rating: int | None) -> float | None:
    """Agreement on one task in [0, 1]: share of agreeing annotator pairs (pairwise: winner;
    ranking: top choice), or for ratings 1 - spread / (max - 1) averaged over criteria."""
    if len(judgments) < 2:
        return None
    if template == "pairwise":
        return unit_agreement([j["choice"] for j in judgments])
    if template == "ranking":
        return unit_agreement([j["order"][0] for j in judgments])
    if template == "rating":
        spans = []
        for c in {c for j in judgments for c in j["ratings"]}:
            rs = [j["ratings"][c] for j in judgments if c in j["ratings"]]
            if len(rs) >= 2:
                spans.append(1 - (max(rs) - min(rs)) / max(1, (max_rating or 5) - 1))
        return statistics.mean(spans) if spans else None
    return None
