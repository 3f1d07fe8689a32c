"""Robust parsing of what a generator writes back: instruction lists, instances, yes/no verdicts.

Models format lists in many ways. The Alpaca format (Taori et al. 2023) is the reference:

    ###
    4. Instruction: Name three rivers in Europe.
    4. Input:
    <noinput>
    4. Output:
    The Danube, the Rhine and the Seine.
    ###
    5. Instruction: ...

A completion model continues the prompt right after ``4. Instruction:``, so the first item arrives
without its label; a chat model usually repeats it. We accept both, with or without ``###``
separators, any item number (or none), markdown bold around labels, and plain numbered or bulleted
lists of instructions. An item is marked partial when it lacks the output field that other items have
(the last one was cut at the token limit; others are malformed), or when the caller knows the reply
was cut (the last one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A label at the start of a line ("4. Instruction:", "- Input:", "Output:"), or a numbered label
# anywhere ("... 4. Input: ..."), as Alpaca's own ``re.split(f"{idx}\.\s+(Instruction|Input|Output):")``.
_LABEL = re.compile(
    r"(?:^[ \t]*(?:[-*][ \t]*)?(?:\d+[ \t]*[.)][ \t]*)?|\b\d+[ \t]*[.)][ \t]*)"
    r"(instruction|input|output)(?:[ \t]*\d+)?[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
_BOLD = re.compile(r"\*\*([^*\n]{1,40}?:?)\*\*:?")
_SEPARATOR = re.compile(r"^[ \t]*#{3,}[ \t]*$", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:\d+[ \t]*[.)]|[-*\u2022])[ \t]+(\S.*)$", re.MULTILINE)
_NO_INPUT = re.compile(r"^\s*<\s*no[ _-]?input\s*>\s*$|^\s*$", re.IGNORECASE)


@dataclass
class Item:
    """One parsed task. ``input``/``output`` are None when the reply did not give them."""

    instruction: str
    input: str | None = None
    output: str | None = None
    partial: bool = False


def _clean(text: str) -> str:
    text = _SEPARATOR.sub("", text)
    return text.strip().strip("#").strip()


def _unbold(text: str) -> str:
    # "**Instruction:**" and "**Instruction**:" -> "Instruction:"
    return (
        _BOLD.sub(lambda m: m.group(1) if m.group(1).endswith(":") else m.group(1) + ":", text)
        if "**" in text
        else text
    )


def no_input(text: str | None) -> str:
    """``<noinput>`` (any spelling) or blank -> ``""``."""
    if text is None:
        return ""
    return "" if _NO_INPUT.match(text) else text.strip()


def parse_instruction_list(text: str, *, start: int = 1, truncated: bool | None = None) -> list[Item]:
    """Parse a generated task list into items.

    Args:
        text: The generator's reply.
        start: The item number the prompt ended with (``K. Instruction:``), used when the reply
            continues the prompt without repeating the label.
        truncated: True when the reply is known to be cut at the token limit (drop the last item);
            None when unknown (then the structural check alone decides).

    Returns:
        Items in order; a dropped last item is returned with ``partial=True`` so it can be counted.
    """
    text = _unbold((text or "").replace("\r\n", "\n"))
    if not text.strip():
        return []
    labels = list(_LABEL.finditer(text))
    if not labels:
        items = [Item(_clean(m.group(1))) for m in _LIST_ITEM.finditer(text)]
        if not items:
            items = [Item(_clean(text))]
        items = [i for i in items if i.instruction]
        if items and truncated:
            items[-1].partial = True
        return items
    if labels[0].group(1).lower() != "instruction":
        # The reply continues the prompt's "K. Instruction:" (Alpaca prepends the same label).
        text = f"{start}. Instruction:" + (" " if not text[:1].isspace() else "") + text
        labels = list(_LABEL.finditer(text))
    # else: text before the first "Instruction:" label is chat preamble ("Sure! Here are ..."): ignored.
    items: list[Item] = []
    for i, m in enumerate(labels):
        end = labels[i + 1].start() if i + 1 < len(labels) else len(text)
        field, value = m.group(1).lower(), _clean(text[m.end() : end])
        if field == "instruction":
            items.append(Item(value))
        elif items and getattr(items[-1], field) is None:
            setattr(items[-1], field, value)
    items = [it for it in items if it.instruction]
    for it in items:
        if it.output is not None or it.input is not None:
            it.input = no_input(it.input)
    if items:
        # Items lack an output where others have one: the last was cut at the token limit, others are
        # malformed (Alpaca drops every item without all three fields).
        with_output = sum(it.output is not None for it in items)
        for it in items:
            if it.output is None and (with_output or it.input is not None):
                it.partial = True
        if truncated:
            items[-1].partial = True
    return items


_INSTANCE_STOP = re.compile(
    r"^[ \t]*(?:task|class label|input|example \d+)[ \t]*:|^[ \t]*#{3,}", re.IGNORECASE | re.MULTILINE
)


def _until_next(text: str) -> str:
    m = _INSTANCE_STOP.search(text)
    return _clean(text[: m.start()] if m else text)


def _strip_label(text: str, label: str) -> str:
    return re.sub(rf"^\s*{label}\s*:", "", text, count=1, flags=re.IGNORECASE)


def parse_instance(text: str, *, output_first: bool) -> tuple[str, str] | None:
    """``(input, output)`` from an instance-generation reply, or None when it has no usable instance.

    Input-first replies continue after ``Input:`` (``... Output: ...``); output-first replies continue
    after ``Class label:`` (``Positive\\nInput: ...``). A model that goes on to invent another task is
    cut at the next ``Task:`` / ``Input:`` / ``Class label:`` line.
    """
    text = _unbold((text or "").replace("\r\n", "\n"))
    if output_first:
        body = _strip_label(text, "class label")
        m = re.search(r"(?:^|\n)[ \t]*input[ \t]*:", body, re.IGNORECASE)
        if not m:
            return None
        label, rest = _clean(body[: m.start()]), body[m.end() :]
        inp = no_input(_until_next(rest))
        return (inp, label) if label else None
    body = _strip_label(text, "input")
    m = re.search(r"(?:^|\n|\s)output[ \t]*:", body, re.IGNORECASE)
    if not m:
        return None
    inp = no_input(_clean(body[: m.start()]))
    out = _until_next(body[m.end() :])
    return (inp, out) if out else None


_PREAMBLE = re.compile(
    r"^(?:sure|certainly|okay|ok|here(?:'s| is| are)|(?:a |the |my |one )?new task|task|instruction)\b[^:\n]*:\s*$",
    re.IGNORECASE,
)
_MARKER = re.compile(r"^(?:\d+[ \t]*[.)]|[-*\u2022])[ \t]*")
_TASK_LABEL = re.compile(
    r"^(?:(?:a |the |my |one )?new[ \t]+)?(?:task|instruction)[ \t]*\d*[ \t]*:[ \t]*", re.IGNORECASE
)


def parse_single_instruction(text: str) -> list[Item]:
    """The one task of a ``prompt_style=short`` reply: its first line that is not a preamble.

    Strips a list marker (``4.``, ``-``), a ``Task:`` / ``New task:`` / ``Instruction:`` label, markdown
    bold and quotes: small models answer "Sure! Here is a new task:" then "**Task:** Plan a ...".
    """
    text = _unbold((text or "").replace("\r\n", "\n"))
    for line in text.split("\n"):
        line = line.strip()
        if not line or _PREAMBLE.match(line):
            continue
        line = _TASK_LABEL.sub("", _MARKER.sub("", line)).strip().strip("\"'\u201c\u201d").strip()
        if line:
            return [Item(line)]
    return []


def parse_yes_no(text: str) -> bool | None:
    """``Yes`` -> True, ``No`` -> False, anything else -> None (the first word decides)."""
    m = re.search(r"[A-Za-z]+", text or "")
    if not m:
        return None
    word = m.group(0).lower()
    return True if word == "yes" else False if word == "no" else None


def parse_equal(text: str) -> bool | None:
    """WizardLM's judge: ``Equal`` -> True, ``Not Equal`` -> False, unclear -> None."""
    t = (text or "").strip().lower()
    if re.search(r"\bnot\s+equal\b|\bunequal\b|\bdifferent\b", t):
        return False
    if re.search(r"\bequal\b", t):
        return True
    return None
