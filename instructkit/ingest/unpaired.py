"""TRL unpaired preference: ``prompt``, ``completion``, ``label`` (a bool: desirable or not), for KTO.

Reference: TRL's "unpaired preference" dataset type (Ethayarajh et al. 2024, KTO).

There is no pair, so this is not a ``preference`` record. It is stored as a ``prompt`` record that also
carries ``completion`` (assistant messages) and ``label`` (bool); the id hashes all three, so the same
prompt with two completions gives two records. Columns and field names match TRL, so the shard loads
straight into ``KTOTrainer``.
"""

from __future__ import annotations

from instructkit.errors import RecordError
from instructkit.ingest.base import Reader, build, content_id, extra_meta, reader, require, to_messages

USED = {"prompt", "completion", "label", "id"}
LABELS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _label(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in LABELS:  # CSV cells are strings
        return LABELS[value.strip().lower()]
    raise RecordError(f"'label' must be true or false, got {value!r}")


@reader("unpaired_preference", priority=10)
class UnpairedPreference(Reader):
    def detect(self, row: dict) -> bool:
        return "prompt" in row and "completion" in row and "label" in row

    def read(self, row: dict, source: dict) -> dict:
        prompt, completion, label = require(row, "prompt", "completion", "label")
        prompt = to_messages(prompt, "prompt")
        completion = to_messages(completion, "completion", role="assistant")
        if completion[-1]["role"] != "assistant":
            raise RecordError("'completion' must end with an assistant message")
        label = _label(label)
        rid = row.get("id") or content_id(prompt, completion, label)
        return build(
            "prompt",
            id=rid,
            prompt=prompt,
            completion=completion,
            label=label,
            source=source,
            meta=extra_meta(row, USED),
        )
