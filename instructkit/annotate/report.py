"""The Markdown report of an ``annotate-import`` run."""

from __future__ import annotations

# Landis and Koch (1977) bands, the usual way to read a kappa or alpha; Krippendorff (2004)
# asks alpha >= 0.8 for firm conclusions and >= 0.667 for tentative ones.
BANDS = ((0.8, "almost perfect"), (0.6, "substantial"), (0.4, "moderate"), (0.2, "fair"), (0.0, "slight"))


def band(x: float | None) -> str:
    if x is None:
        return "n/a"
    return next((name for lo, name in BANDS if x >= lo), "worse than chance")


def _f(x) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _table(headers: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
    return out + [""]


def _length_bias(lb: dict | None) -> list[str]:
    """The length-bias section: longer-wins rates per annotator (see annotate/bias.py)."""
    if not lb or not lb["n"]:
        return []
    lines = [
        "## Length bias",
        "",
        f"Among {lb['n']} comparisons of responses of different length, the longer one won "
        f"{lb['longer_wins']} times (rate {_f(lb['longer_win_rate'])}, two-sided binomial p = {_f(lb['p_value'])} "
        "against 0.5). Longer answers may also be better: compare annotators with each other. A reward model "
        "trained on these labels inherits the rate (check it with instructkit eval's length_bias).",
        "",
    ]
    if lb.get("rating_length_spearman") is not None:
        lines += [f"Spearman correlation of rating and length: {_f(lb['rating_length_spearman'])}.", ""]
    rows = [
        [a, r["n"], r["longer_win_rate"], r["p_value"], r.get("rating_length_spearman")]
        for a, r in lb["per_annotator"].items()
    ]
    lines += _table(["annotator", "comparisons", "longer wins", "p", "rating~length Spearman"], rows)
    if lb.get("plot"):
        lines += [f"![length bias per annotator]({lb['plot']})", ""]
    return lines


def render(s: dict) -> str:
    """Markdown for a summary returned by ``pipeline._build``."""
    q = s["quality"]
    lines = [f"# Annotation report ({s['template']})", ""]
    ann = s["annotations"]
    lines += ["## Summary", ""]
    lines += _table(
        ["", "count"],
        [
            [k, v if not isinstance(v, dict) else (", ".join(f"{r}: {n}" for r, n in v.items()) or 0)]
            for k, v in ann.items()
        ]
        + [
            ["items (feedback records)", s["items"]],
            ["tasks annotated", s["tasks_annotated"]],
            ["preference pairs", s["binarize"].get("pairs", 0)],
            ["sft records", s["sft"]],
            ["disputed tasks", len(s["disputed"])],
            [f"tasks with fewer than {s['overlap']} annotations (--overlap)", len(s["under_covered"])],
        ],
    )
    if q["agreement"]:
        lines += [
            "## Agreement",
            "",
            "Krippendorff's alpha and Fleiss' kappa over units with 2+ annotators; Cohen's kappa is the "
            "mean over annotator pairs. Bands after Landis and Koch (1977); Krippendorff asks for "
            "alpha >= 0.8 (>= 0.667 for tentative conclusions).",
            "",
        ]
        rows = []
        for name, a in q["agreement"].items():
            rows.append(
                [
                    name,
                    a["level"],
                    a["units_with_2plus"],
                    a["krippendorff_alpha"],
                    band(a["krippendorff_alpha"]),
                    a["fleiss_kappa"],
                    a["cohen_kappa_mean"],
                    a["percent_agreement"],
                ]
            )
        lines += _table(
            ["unit", "level", "units (2+)", "alpha", "reading", "Fleiss kappa", "Cohen kappa (mean)", "% agreement"],
            rows,
        )
    if q["annotators"] or s["judgments_per_annotator"]:
        lines += ["## Annotators", ""]
        rows = []
        for a, n in s["judgments_per_annotator"].items():
            stats = q["annotators"].get(a, {})
            first = stats.get("rating:all") or next(iter(stats.values()), {})
            g = q["gold"].get(a, {})
            pb = ((q.get("position_bias") or {}).get("per_annotator") or {}).get(a, {})
            cal = (q.get("calibration") or {}).get(a, {})
            rows.append(
                [
                    a,
                    n,
                    first.get("cohen_kappa_mean"),
                    first.get("majority_agreement"),
                    f"{g['correct']}/{g['n']} ({g['accuracy']:.2f})" if g else "-",
                    pb.get("left_rate"),
                    cal.get("mean"),
                    cal.get("sd"),
                    q["excluded"].get(a, ""),
                ]
            )
        lines += _table(
            [
                "annotator",
                "judgments",
                "Cohen kappa vs others",
                "agrees with majority",
                "gold",
                "left rate",
                "mean rating",
                "sd rating",
                "excluded",
            ],
            rows,
        )
    pb = q.get("position_bias")
    if pb and pb["n"]:
        lines += [
            "## Position bias",
            "",
            f"'left' was chosen in {pb['left']} of {pb['n']} pairwise judgments (rate {_f(pb['left_rate'])}, "
            f"two-sided binomial p = {_f(pb['p_value'])} against 0.5). Left/right was randomised per task and "
            "the pairs are built from response indices, so the bias does not reach the preference data.",
            "",
        ]
    lines += _length_bias(q.get("length_bias"))
    b = s["binarize"]
    lines += [
        "## Binarisation",
        "",
        f"Method {b['method']}, min margin {b['min_margin']}: {b.get('pairs', 0)} pairs; "
        f"{b.get('tie', 0)} ties and {b.get('below min-margin', 0)} below the margin left out.",
        "",
    ]
    if "unchanged edit" in b:
        lines += [
            f"Edits: each changed edit is also a pair (edited over original); {b['unchanged edit']} unchanged "
            "edits gave no pair (their sft records carry meta.annotate.changed = false).",
            "",
        ]
    if s["disputed"]:
        lines += ["## Disputed tasks", "", "Task agreement below the threshold (re-export with --disputed):", ""]
        lines += _table(["task", "agreement"], [[t, round(s["task_agreement"][t], 3)] for t in s["disputed"][:50]])
        if len(s["disputed"]) > 50:
            lines += [f"... and {len(s['disputed']) - 50} more (agreement.json is complete).", ""]
    return "\n".join(lines)
