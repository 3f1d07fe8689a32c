"""Consistency: the same prompt with different answers, the same pair labelled both ways.

Prompts are compared normalised (case-folded, NFKC, punctuation and whitespace collapsed: the
``norm`` of ``filters/_text.py``) over every turn before the response, roles included, so "What is
2+2?" and "what is 2 + 2" are one prompt. Answers are compared normalised the same way (by the digest ``Item.answer_key``).

- sft (and unpaired, feedback) records: a prompt with two or more different answers is a conflict.
  ``conflicting_prompts`` is the number of such distinct prompts. Several good answers to an open
  prompt ("Write a poem") are not always wrong, but for closed tasks (arithmetic, classification) a
  conflict means at least one answer is; the list shows which.
- preference records: the same prompt with answers A and B where one record prefers A and another
  prefers B (``flipped_pairs``), plus prompts whose chosen answers differ (counted as conflicts too).
- unpaired rows (``label``): the same prompt and completion labelled both desirable and undesirable.
"""

from __future__ import annotations

from instructkit.quality.common import Item


def measure(items: list[Item], *, listed: int) -> dict:
    """The consistency section of quality.json (``listed``: conflicts written out in full)."""
    answers: dict[str, dict[bytes, list[str]]] = {}
    prompts_text: dict[str, str] = {}
    pairs: dict[tuple[str, frozenset], dict[bytes, list[str]]] = {}
    labels: dict[tuple[str, bytes], dict[bool, list[str]]] = {}
    for it in items:
        key = it.prompt_key
        if not key:
            continue
        prompts_text.setdefault(key, it.instruction)
        answer = it.answer_key
        if it.label is not None:
            labels.setdefault((key, answer), {}).setdefault(it.label, []).append(it.id)
            if it.label is False:
                continue  # an undesirable completion is not the prompt's answer
        answers.setdefault(key, {}).setdefault(answer, []).append(it.id)
        if it.rejected_key is not None:
            rejected = it.rejected_key
            if rejected != answer:
                pairs.setdefault((key, frozenset((answer, rejected))), {}).setdefault(answer, []).append(it.id)

    conflicts = []
    for key, by_answer in answers.items():
        if len(by_answer) > 1:
            conflicts.append(
                {
                    "prompt": prompts_text[key][:300],
                    "answers": len(by_answer),
                    "ids": [ids for ids in by_answer.values()][:10],
                }
            )
    conflicts.sort(key=lambda c: -c["answers"])
    flipped = [
        {"prompt": prompts_text[key][:300], "ids": list(by_chosen.values())}
        for (key, _), by_chosen in pairs.items()
        if len(by_chosen) > 1
    ]
    both_labels = [
        {"prompt": prompts_text[key][:300], "desirable": v[True][:5], "undesirable": v[False][:5]}
        for (key, _), v in labels.items()
        if len(v) > 1
    ]
    return {
        "prompts": len(answers),
        "conflicting_prompts": len(conflicts),
        "conflict_rate": round(len(conflicts) / len(answers), 4) if answers else None,
        "conflicts": conflicts[:listed],
        "conflicts_listed": min(len(conflicts), listed),
        "flipped_pairs": len(flipped),
        "flipped": flipped[:listed],
        "both_labels": len(both_labels),
        "both_labelled": both_labels[:listed],
    }
