"""Check one annotation against its template and turn it into a judgment.

Label Studio stores whatever a client posts (a rating of 9 on a 1-5 scale, a control name the config
does not have, a ranking that drops an item), so every value is checked here. A failure raises
``AnnotationError`` naming the file, the task and the annotation; ``annotate-import --on-error skip``
quarantines it instead.
"""

from __future__ import annotations

from typing import Any

from instructkit.annotate.importer import RawAnnotation
from instructkit.annotate.templates import Template
from instructkit.errors import InputError


class AnnotationError(InputError):
    """An annotation whose values do not fit the template, or a task we did not export."""

    def __init__(self, raw: RawAnnotation, reason: str, message: str, hint: str | None = None):
        super().__init__(
            f"{raw.where}: {message}",
            file=raw.file,
            hint=hint or "fix it in Label Studio and export again, or pass --on-error skip to quarantine it",
        )
        self.reason = reason


def _value(raw: RawAnnotation, name: str, value: Any) -> Any:
    """A JSON-MIN value may be a list of value objects (take the last) or a bare string."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return value[-1]
    return value


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return None


def shown_of(raw: RawAnnotation) -> list[int]:
    """The response indices the task displayed, from its data."""
    shown = raw.data.get("instructkit_responses")
    if isinstance(shown, str):
        import json

        try:
            shown = json.loads(shown)
        except ValueError:
            shown = None
    if not isinstance(shown, list) or not all(isinstance(i, int) for i in shown):
        raise AnnotationError(raw, "not our task", "task data has no valid 'instructkit_responses'")
    return shown


def judgment_of(raw: RawAnnotation, template: Template, shown: list[int]) -> dict:
    """The judgment one annotation expresses, in response indices of the item.

    Args:
        raw: The annotation.
        template: The template the task was exported with.
        shown: Response indices in display order (left, right for pairwise).

    Raises:
        AnnotationError: unknown control, bad value, out-of-range rating, empty annotation.
    """
    unknown = sorted(set(raw.results) - set(template.controls))
    if unknown:
        raise AnnotationError(
            raw,
            "unknown control",
            f"unknown control name(s) {unknown} for the {template.name} "
            f"template (its controls: {sorted(template.controls)})",
        )
    if not raw.results:
        raise AnnotationError(raw, "empty annotation", "the annotation has no result")
    base = {
        "annotator": raw.annotator or "unknown",
        "type": template.judgment_type,
        "task": raw.data.get("instructkit_task"),
    }
    values = {name: _value(raw, name, v) for name, v in raw.results.items()}
    if template.name == "pairwise":
        v = values.get("choice")
        selected = v.get("selected") if isinstance(v, dict) else v
        if selected not in ("left", "right"):
            raise AnnotationError(raw, "bad value", f"pairwise 'selected' must be 'left' or 'right', got {selected!r}")
        if len(shown) != 2:
            raise AnnotationError(raw, "not our task", f"a pairwise task must show 2 responses, data has {shown}")
        winner = shown[0] if selected == "left" else shown[1]
        return base | {"responses": shown, "selected": selected, "choice": winner}
    if template.name == "rating":
        ratings = {}
        for name, v in values.items():
            n = _int(v.get("rating") if isinstance(v, dict) else v)
            top = template.controls[name].max_rating
            if n is None or not 1 <= n <= top:
                got = v.get("rating") if isinstance(v, dict) else v
                raise AnnotationError(
                    raw, "rating out of range", f"rating {name}={got!r} is not an integer in 1..{top}"
                )
            ratings[name] = n
        return base | {"response": shown[0], "ratings": ratings}
    if template.name == "ranking":
        v = values.get("rank")
        ranked = v.get("ranker") if isinstance(v, dict) and "ranker" in v else v
        if isinstance(ranked, dict):  # {list or ranker name: [ids]}; Bucket configs add other keys
            ranked = ranked.get(
                "rank", ranked.get("responses", next(iter(ranked.values())) if len(ranked) == 1 else None)
            )
        expected = sorted(f"r{i}" for i in shown)
        if not isinstance(ranked, list) or sorted(map(str, ranked)) != expected:
            raise AnnotationError(raw, "bad value", f"ranking must order exactly {expected}, got {ranked!r}")
        return base | {"order": [int(str(r)[1:]) for r in ranked], "shown": shown}
    # edit / demonstration: TextArea {"text": [...]}, the last entry is the final text
    name = next(iter(template.controls))
    v = values.get(name)
    texts = v.get("text") if isinstance(v, dict) else v
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not isinstance(texts[-1], str) or not texts[-1].strip():
        raise AnnotationError(raw, "bad value", f"{name} must hold a non-empty text, got {texts!r}")
    out = base | {"response": shown[0] if shown else None, "text": texts[-1].strip()}
    if template.name == "demonstration":
        out["demonstration"] = True
    return out


def provenance(raw: RawAnnotation) -> dict:
    """Who and when, kept on every judgment."""
    out = {
        "annotation_id": raw.annotation_id,
        "ls_task": raw.task_id,
        "lead_time": raw.lead_time,
        "created_at": raw.created_at,
    }
    if raw.updated_at and raw.updated_at != raw.created_at:
        out["updated_at"] = raw.updated_at
    return {k: v for k, v in out.items() if v is not None}
