"""TRL preference pairs, with an explicit prompt (``prompt``, ``chosen``, ``rejected``) or an implicit
one (``chosen`` and ``rejected`` are full conversations; their shared prefix is the prompt).

Reference: TRL's "preference" dataset type (DPO prefers the explicit prompt, the reward trainer the
implicit one). Strings or message lists are accepted; a string ``chosen``/``rejected`` is one assistant
message. An explicit row whose sides repeat the prompt (as UltraFeedback-binarized does) has the repeat
removed.
"""

from __future__ import annotations

from instructkit.ingest.base import Reader, build, extra_meta, reader, require, split_shared_prefix, to_messages

USED = {"prompt", "chosen", "rejected", "id"}


@reader("preference", priority=10)
class Preference(Reader):
    def detect(self, row: dict) -> bool:
        return "prompt" in row and "chosen" in row and "rejected" in row and "conversations" not in row

    def read(self, row: dict, source: dict) -> dict:
        prompt, chosen, rejected = require(row, "prompt", "chosen", "rejected")
        prompt = to_messages(prompt, "prompt")
        chosen = to_messages(chosen, "chosen", role="assistant")
        rejected = to_messages(rejected, "rejected", role="assistant")
        n = len(prompt)
        if len(chosen) > n and len(rejected) > n and chosen[:n] == prompt and rejected[:n] == prompt:
            chosen, rejected = chosen[n:], rejected[n:]
        return build(
            "preference",
            id=row.get("id"),
            prompt=prompt,
            chosen=chosen,
            rejected=rejected,
            source=source,
            meta=extra_meta(row, USED),
        )


@reader("preference_implicit", priority=10)
class PreferenceImplicit(Reader):
    def detect(self, row: dict) -> bool:
        return (
            isinstance(row.get("chosen"), list)
            and isinstance(row.get("rejected"), list)
            and "prompt" not in row
            and "conversations" not in row
        )

    def read(self, row: dict, source: dict) -> dict:
        chosen, rejected = require(row, "chosen", "rejected")
        prompt, chosen, rejected = split_shared_prefix(to_messages(chosen, "chosen"), to_messages(rejected, "rejected"))
        return build(
            "preference",
            id=row.get("id"),
            prompt=prompt,
            chosen=chosen,
            rejected=rejected,
            source=source,
            meta=extra_meta(row, USED),
        )
