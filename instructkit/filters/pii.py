"""Personal data: e-mail addresses, phone numbers, IP addresses, credit card numbers.

``action: drop`` is a filter (reason ``pii.<kind>``, the count found and the first match's kind);
``action: mask`` is a mapper that writes ``[EMAIL]``, ``[PHONE]``, ``[IP]`` or ``[CREDIT_CARD]`` in
place and records the counts in ``meta.pii`` (it never drops). The patterns follow BigCode's PII
redaction for StarCoder (Li et al. 2023) and BigScience's ROOTS pipeline (Laurençon et al. 2022):

- IP addresses are validated with ``ipaddress`` and only public ones count (``127.0.0.1``, ``10.x``,
  ``192.168.x`` in a tutorial are not personal data);
- card numbers are 13-19 digits (spaces or dashes allowed) that pass the Luhn checksum, so a long
  number in a maths answer is not taken for a card;
- phones need phone formatting (``+CC``, ``(555) 123-4567``, ``555-123-4567``) or are Chinese mobile
  numbers (11 digits starting 13-19); bare digit runs are not phones.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import field
from typing import Literal

from instructkit.errors import ConfigError
from instructkit.filters._text import detail, turns
from instructkit.filters.analysis import has_digit, pii_shapes_ascii
from instructkit.stage import Drop, Filter, Mapper, add_meta, register

KINDS = ("email", "phone", "ip", "credit_card")
TAGS = {"email": "[EMAIL]", "phone": "[PHONE]", "ip": "[IP]", "credit_card": "[CREDIT_CARD]"}

# Lookarounds are ASCII-only: in Chinese text a number or address touches CJK characters, which are \w.
EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
PHONE = re.compile(
    r"(?<![A-Za-z0-9+])(?:\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)|\d{1,4})(?:[\s.-]?\d{2,4}){2,4}"  # +44 20 7946 0958
    r"|\(\d{3}\)\s?\d{3}[\s.-]\d{4}"  # (555) 123-4567
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
    r"|1[3-9]\d{9})(?![A-Za-z0-9])"  # Chinese mobile 13812345678
)
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
IPV6 = re.compile(r"(?<![A-Za-z0-9:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![A-Za-z0-9:])")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def luhn(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies (ISO/IEC 7812)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _public_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_global
    except ValueError:
        return False


def find(text: str, kinds: tuple[str, ...] | list[str] = KINDS) -> list[tuple[str, int, int]]:
    """``(kind, start, end)`` of every PII match, non-overlapping, in text order."""
    spans: list[tuple[str, int, int]] = []
    # Cheap guards first: most turns have no '@', no ':' pair, no 3 dots, so most regexes never run.
    if text.isascii():  # shapes the digits must have for each regex to match (analysis.py), one C pass
        card, ipv4, phone = pii_shapes_ascii(text)
    else:
        card = ipv4 = phone = has_digit(text)
    if "email" in kinds and "@" in text:
        spans += [("email", m.start(), m.end()) for m in EMAIL.finditer(text)]
    if "credit_card" in kinds and card:
        spans += [
            ("credit_card", m.start(), m.end()) for m in CARD.finditer(text) if luhn(re.sub(r"\D", "", m.group(0)))
        ]
    if "ip" in kinds and ipv4 and text.count(".") >= 3:
        spans += [("ip", m.start(), m.end()) for m in IPV4.finditer(text) if _public_ip(m.group(0))]
    if "ip" in kinds and text.count(":") >= 2:
        spans += [
            ("ip", m.start(), m.end())
            for m in IPV6.finditer(text)
            if m.group(0).count(":") >= 2 and _public_ip(m.group(0))
        ]
    if "phone" in kinds and phone:
        spans += [("phone", m.start(), m.end()) for m in PHONE.finditer(text)]
    spans.sort(key=lambda s: (s[1], -(s[2] - s[1])))
    out: list[tuple[str, int, int]] = []
    for span in spans:  # earlier and longer wins: a card is not also a phone, an e-mail's digits not a phone
        if not out or span[1] >= out[-1][2]:
            out.append(span)
    return out


@dataclasses.dataclass(kw_only=True)
class PIIParams:
    action: Literal["drop", "mask"] = field(
        default="drop",
        metadata={
            "help": "drop: reject records with PII; mask: replace it with [EMAIL], [PHONE], [IP], [CREDIT_CARD]."
        },
    )
    kinds: list[str] = field(
        default_factory=lambda: list(KINDS), metadata={"help": "What to look for: " + ", ".join(KINDS)}
    )
    roles: list[str] = field(
        default_factory=lambda: ["system", "user", "assistant", "tool"],
        metadata={"help": "Roles whose turns are searched."},
    )


@register("filter", "pii")
class PIIFilter(Filter):
    """Drops (action: drop) or masks (action: mask) e-mails, phones, public IPs and Luhn-valid card numbers."""

    Params = PIIParams

    @staticmethod
    def validate(params: PIIParams) -> None:
        bad = sorted(set(params.kinds) - set(KINDS))
        if bad:
            raise ConfigError(f"pii.kinds has unknown kinds {bad}", hint=f"kinds: {', '.join(KINDS)}")

    @classmethod
    def chain(cls, params: PIIParams) -> list:
        return [PIIMasker(params)] if params.action == "mask" else [cls(params)]

    def check(self, record: dict) -> Drop | None:
        for where, role, text in turns(record):
            if role in self.params.roles:
                spans = find(text, self.params.kinds)
                if spans:
                    kind = spans[0][0]
                    n = sum(1 for s in spans if s[0] == kind)
                    return Drop(f"pii.{kind}", detail("pii", n, 0, kind=kind, turn=where))
        return None


class PIIMasker(Mapper):
    """Replaces PII with placeholders and counts what it replaced in ``meta.pii``."""

    name, family = "pii_mask", "filter"

    def _mask(self, text: str, counts: dict) -> str:
        spans = find(text, self.params.kinds)
        if not spans:
            return text
        parts, pos = [], 0
        for kind, start, end in spans:
            parts += [text[pos:start], TAGS[kind]]
            counts[kind] = counts.get(kind, 0) + 1
            pos = end
        parts.append(text[pos:])
        return "".join(parts)

    def _messages(self, msgs: list, counts: dict) -> list:
        out = []
        for m in msgs:
            if isinstance(m, dict) and m.get("role") in self.params.roles and isinstance(m.get("content"), str):
                m = {**m, "content": self._mask(m["content"], counts)}
            out.append(m)
        return out

    def map(self, record: dict) -> dict:
        counts: dict[str, int] = {}
        new = dict(record)
        for field_ in ("messages", "prompt", "chosen", "rejected"):
            if isinstance(record.get(field_), list):
                new[field_] = self._messages(record[field_], counts)
        if isinstance(record.get("responses"), list) and "assistant" in self.params.roles:
            new["responses"] = [
                {**r, "content": self._mask(r.get("content") or "", counts)} if isinstance(r, dict) else r
                for r in record["responses"]
            ]
        if not counts:
            return record
        return add_meta(new, pii={"action": "mask", **counts})
