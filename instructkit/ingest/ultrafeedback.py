"""UltraFeedback: a prompt with several completions, each with its model and ratings -> ``feedback``.

Reference: Cui et al. 2023, "UltraFeedback". A row has ``instruction`` (or ``prompt``) and
``completions: [{model, response, annotations: {aspect: {Rating, Rationale}}, fine-grained_score,
overall_score, critique}]``. Each completion becomes a response ``{content, model}``; each completion
with at least one numeric rating gives one judgment::

    {"annotator": "ultrafeedback", "type": "rating", "response": 0, "value": 4.75, "scale": [1, 5],
     "aspects": {"helpfulness": 5, "honesty": 4, ...}, "overall_score": 9.0}

``value`` is the mean of the aspect ratings (UltraFeedback's ``fine-grained_score``; the binarized
release ranks by it). Ratings of ``"N/A"`` are skipped; a row without ratings has no judgments.
"""

from __future__ import annotations

from instructkit.errors import RecordError
from instructkit.ingest.base import Reader, as_text, build, extra_meta, reader, to_messages
from instructkit.records import clean_text

USED = {"instruction", "prompt", "completions", "models", "id"}
ANNOTATOR = "ultrafeedback"
SCALE = [1, 5]  # UltraFeedback's aspect ratings run from 1 to 5


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(str(value).strip())
    except ValueError:  # "N/A" and free text
        return None


def _judgment(i: int, comp: dict) -> dict | None:
    aspects = {}
    for aspect, ann in (comp.get("annotations") or {}).items():
        rating = _number(ann.get("Rating") if isinstance(ann, dict) else ann)
        if rating is not None:
            aspects[aspect] = int(rating) if float(rating).is_integer() else rating
    overall = _number(comp.get("overall_score"))
    if not aspects and overall is None:
        return None
    judgment = {"annotator": ANNOTATOR, "type": "rating", "response": i}
    if aspects:
        judgment["value"] = round(sum(aspects.values()) / len(aspects), 4)
        judgment["scale"] = SCALE
        judgment["aspects"] = aspects
    if overall is not None:
        judgment["overall_score"] = overall
        judgment.setdefault("value", overall)
        judgment.setdefault("scale", [1, 10])  # overall_score is a 1-10 critique score
    return judgment


@reader("ultrafeedback", priority=10)
class UltraFeedback(Reader):
    def detect(self, row: dict) -> bool:
        return isinstance(row.get("completions"), list) and ("instruction" in row or "prompt" in row)

    def read(self, row: dict, source: dict) -> dict:
        prompt = row.get("instruction", row.get("prompt"))
        if prompt is None:
            raise RecordError("missing required field 'instruction' (or 'prompt')")
        completions = row["completions"]
        if not completions:
            raise RecordError("'completions' is empty")
        responses, judgments = [], []
        for i, comp in enumerate(completions):
            if not isinstance(comp, dict) or "response" not in comp:
                raise RecordError(f"'completions[{i}]' must be an object with 'response'")
            resp = {"content": clean_text(as_text(comp["response"] or "", f"completions[{i}].response"))}
            if comp.get("model"):
                resp["model"] = str(comp["model"])
            responses.append(resp)
            judgment = _judgment(i, comp)
            if judgment:
                judgments.append(judgment)
        return build(
            "feedback",
            id=row.get("id"),
            prompt=to_messages(prompt, "instruction"),
            responses=responses,
            judgments=judgments,
            source=source,
            meta=extra_meta(row, USED),
        )
