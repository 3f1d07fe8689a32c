"""``feedback`` records -> ``preference`` pairs and ``sft`` demonstrations.

- ``best-worst``: one pair per item, the best-scored response against the worst (UltraFeedback's
  binarisation in Zephyr, Tunstall et al. 2023, used best vs. random; best vs. worst gives the
  largest margin).
- ``all-pairs``: every pair with a preference (InstructGPT, Ouyang et al. 2022, trained the reward
  model on all C(K, 2) comparisons of a ranking).
- edits: one (edited over original) pair per distinct changed edit, whatever the method.

Ties (margin 0) never become pairs; ``min_margin`` drops weak preferences (rating points, Borda
share or vote share depending on the template, z units with calibration).
"""

from __future__ import annotations

from instructkit.records import make_record, message

METHODS = ("best-worst", "all-pairs")


def pairs_of(agg: dict, method: str, min_margin: float) -> tuple[list[tuple[int, int, float]], dict]:
    """``[(chosen, rejected, margin)]`` for one item, and counts of what was left out and why."""
    skipped = {"tie": 0, "below min-margin": 0}
    candidates: list[tuple[int, int, float]] = []
    if method == "best-worst":
        scored = [(s, i) for i, s in enumerate(agg["scores"]) if s is not None]
        if len(scored) >= 2:
            best = max(scored, key=lambda si: (si[0], -si[1]))
            worst = min(scored, key=lambda si: (si[0], si[1]))
            candidates.append((best[1], worst[1], best[0] - worst[0]))
    else:
        for (a, b), m in sorted(agg["margins"].items()):
            candidates.append((a, b, m) if m >= 0 else (b, a, -m))
    out = []
    for chosen, rejected, margin in candidates:
        if margin <= 1e-12:
            skipped["tie"] += 1
        elif margin < min_margin:
            skipped["below min-margin"] += 1
        else:
            out.append((chosen, rejected, margin))
    return out, skipped


def preference_records(
    feedback: dict, agg: dict, *, method: str, min_margin: float, template: str, calibrated: bool
) -> tuple[list[dict], dict]:
    """Preference records of one feedback record, with provenance in ``meta.annotate``."""
    pairs, skipped = pairs_of(agg, method, min_margin)
    active = [j for j in feedback["judgments"] if not j.get("excluded")]
    records = []
    for chosen, rejected, margin in pairs:
        involved = [j for j in active if _involves(j, chosen, rejected)]
        meta = {
            "source": feedback["meta"].get("source"),
            "annotate": {
                "feedback_id": feedback["id"],
                "template": template,
                "method": method,
                "chosen_index": chosen,
                "rejected_index": rejected,
                "margin": round(margin, 4),
                "scores": [None if s is None else round(s, 4) for s in agg["scores"]],
                "calibrated": calibrated,
                "judgments": len(involved),
                "annotators": sorted({j["annotator"] for j in involved}),
            },
        }
        resp = feedback["responses"]
        for side, i in (("chosen_model", chosen), ("rejected_model", rejected)):
            if resp[i].get("model"):
                meta["annotate"][side] = resp[i]["model"]
        records.append(
            make_record(
                "preference",
                prompt=feedback["prompt"],
                chosen=[message("assistant", resp[chosen]["content"])],
                rejected=[message("assistant", resp[rejected]["content"])],
                meta=meta,
            )
        )
    return records, skipped


def _involves(j: dict, a: int, b: int) -> bool:
    if j["type"] == "pairwise":
        return set(j["responses"]) == {a, b}
    if j["type"] == "rating":
        return j["response"] in (a, b)
    return j["type"] == "ranking"


def edit_preference_records(feedback: dict, template: str) -> tuple[list[dict], dict]:
    """(edited preferred over original) pairs of one feedback record's edit judgments.

    An annotator's correction is a contrastive signal as well as a demonstration: the edited answer is
    preferred to the one it fixes (Scheurer et al. 2023, "Training language models with language feedback
    at scale", learn from such refinements). Unchanged edits carry no preference and are left out (counted
    as ``unchanged edit``); annotators who wrote the same text merge.
    """
    by_id: dict[str, dict] = {}
    skipped = {"unchanged edit": 0}
    for j in feedback["judgments"]:
        if j["type"] != "edit" or j.get("excluded") or j.get("response") is None:
            continue
        original = feedback["responses"][j["response"]]["content"]
        if j["text"].strip() == original.strip():
            skipped["unchanged edit"] += 1
            continue
        rec = make_record(
            "preference",
            prompt=feedback["prompt"],
            chosen=[message("assistant", j["text"])],
            rejected=[message("assistant", original)],
            meta={"source": feedback["meta"].get("source")},
        )
        if rec["id"] in by_id:
            by_id[rec["id"]]["meta"]["annotate"]["annotators"].append(j["annotator"])
            continue
        rec["meta"]["annotate"] = {
            "feedback_id": feedback["id"],
            "template": template,
            "method": "edit",
            "rejected_index": j["response"],
            "task": j.get("task"),
            "annotators": [j["annotator"]],
        }
        by_id[rec["id"]] = rec
    return list(by_id.values()), skipped


def sft_records(feedback: dict, template: str) -> list[dict]:
    """One sft record per distinct edited or written text (annotators who wrote the same text merge)."""
    by_id: dict[str, dict] = {}
    for j in feedback["judgments"]:
        if j["type"] != "edit" or j.get("excluded"):
            continue
        original = feedback["responses"][j["response"]]["content"] if j.get("response") is not None else None
        rec = make_record(
            "sft",
            messages=[*feedback["prompt"], message("assistant", j["text"])],
            meta={"source": feedback["meta"].get("source")},
        )
        if rec["id"] in by_id:
            by_id[rec["id"]]["meta"]["annotate"]["annotators"].append(j["annotator"])
            continue
        rec["meta"]["annotate"] = {
            "feedback_id": feedback["id"],
            "template": template,
            "task": j.get("task"),
            "annotators": [j["annotator"]],
            "annotation_id": j.get("annotation_id"),
            # False flags an edit that left the answer as it was: kept as a demonstration (the annotator
            # approved it), never turned into a pair; filter on it to train only on corrections.
            "changed": original is not None and j["text"].strip() != original.strip(),
            "kind": "demonstration" if j.get("demonstration") else "edit",
        }
        by_id[rec["id"]] = rec
    return list(by_id.values())
