"""quality.md: a one-screen summary of the four axes (sets side by side), then each axis in detail."""

from __future__ import annotations


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def headline(rep: dict) -> dict[str, str]:
    """One line per axis (the summary table's cells)."""
    div, cla, acc, con = rep["diversity"], rep["clarity"], rep["accuracy"], rep["consistency"]
    d = div["distinct"]["instructions"]
    near = div["near_duplicates"]
    parts = [
        f"distinct-1/2/3 {_num(d['distinct_1'])}/{_num(d['distinct_2'])}/{_num(d['distinct_3'])}",
        f"{div['verbs']['unique_verbs']} verbs, {div['verbs']['unique_pairs']} verb-object pairs "
        f"(verb found in {_pct(div['verbs']['coverage'])})",
        f"{near['clusters']} near-duplicate clusters ({_pct(near['share'])} of records)",
    ]
    if div.get("embedding"):
        e = div["embedding"]
        parts.append(f"embedding spread {_num(e['spread'])}, {e['clusters']} clusters")
    worst = sorted(((v["rate"], c) for c, v in cla["checks"].items() if v["count"]), reverse=True)[:3]
    clarity = f"{_pct(cla['clear'])} without a defect" + (
        "; most common: " + ", ".join(f"{c} {_pct(r)}" for r, c in worst) if worst else ""
    )
    if acc["measured"]:
        bits = []
        if acc["gold"]:
            bits.append(f"gold exact {_pct(acc['gold']['exact_match'])}, contains {_pct(acc['gold']['contains'])}")
        if acc["reference"]:
            r = acc["reference"]
            bits.append(f"reference ({r['matched']} matched) exact {_pct(r['exact_match'])}, F1 {_num(r['token_f1'])}")
        if acc["reward"]:
            r = acc["reward"]
            rm = f"reward mean {_num(r['scores'].get('mean'))}"
            if r["chosen_preferred"] is not None:
                rm += f", chosen preferred {_pct(r['chosen_preferred'])}"
            bits.append(rm)
        accuracy = "; ".join(bits)
    else:
        accuracy = "not measured (no gold field, reference set or reward model)"
    consistency = (
        f"{con['conflicting_prompts']} of {con['prompts']} prompts have conflicting answers"
        f" ({_pct(con['conflict_rate'])})"
    )
    if con["flipped_pairs"] or con["both_labels"]:
        consistency += f"; {con['flipped_pairs']} pairs labelled both ways, {con['both_labels']} completions both ways"
    return {"diversity": "; ".join(parts), "clarity": clarity, "accuracy": accuracy, "consistency": consistency}


def markdown(reports: list[dict], plots: list[str]) -> str:
    names = [r["name"] for r in reports]
    lines = ["# instructkit quality report", ""]
    lines.append(
        "Sets: " + ", ".join(f"**{r['name']}** `{r['path']}` ({r['records']} {r['kind']} records)" for r in reports)
    )
    lines += ["", "## Summary", "", "| axis | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    heads = [headline(r) for r in reports]
    for axis in ("diversity", "clarity", "accuracy", "consistency"):
        lines.append(f"| {axis} | " + " | ".join(h[axis] for h in heads) + " |")
    lines += ["", "Details: quality.json. Method and limits: docs/quality.md.", ""]
    for rep in reports:
        lines += _details(rep)
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _details(rep: dict) -> list[str]:
    div, cla, con = rep["diversity"], rep["clarity"], rep["consistency"]
    out = [
        f"## {rep['name']}",
        "",
        "### Diversity",
        "",
        "| | distinct-1 | distinct-2 | distinct-3 |",
        "|---|---|---|---|",
    ]
    for part in ("instructions", "responses"):
        d = div["distinct"][part]
        out.append(f"| {part} | {_num(d['distinct_1'])} | {_num(d['distinct_2'])} | {_num(d['distinct_3'])} |")
    out += ["", "Top root verbs (count) and their direct objects:", ""]
    for v in div["verbs"]["top"]:
        out.append(f"- **{v['verb']}** ({v['count']}): " + ", ".join(f"{o} {c}" for o, c in v["objects"]))
    near = div["near_duplicates"]
    out += [
        "",
        f"Near-duplicate instruction clusters (MinHash, Jaccard >= {near['threshold']}): {near['clusters']}",
        "",
    ]
    for c in near["top"]:
        out.append(f"- {c['size']} records, e.g. `{c['ids'][0]}`: {c['example']!r}")
    out += ["", "### Clarity", "", "| check | records | rate | examples |", "|---|---|---|---|"]
    for name, v in cla["checks"].items():
        if v["count"]:
            out.append(f"| {name} | {v['count']} | {_pct(v['rate'])} | {', '.join(v['examples'])} |")
    out += ["", "### Consistency", ""]
    out.append(f"{con['conflicting_prompts']} distinct prompts have two or more different answers.")
    if con["conflicts"]:
        out.append(f"The first {con['conflicts_listed']} of {con['conflicting_prompts']}:")
        out.append("")
        for c in con["conflicts"]:
            out.append(f"- {c['answers']} answers, ids {c['ids']}: {c['prompt'][:120]!r}")
    if con["flipped"]:
        out += ["", f"Pairs labelled both ways ({con['flipped_pairs']}):", ""]
        out += [f"- ids {f['ids']}: {f['prompt'][:120]!r}" for f in con["flipped"]]
    out.append("")
    return out
