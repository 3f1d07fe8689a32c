"""Labeling interfaces: one Label Studio config (XML) per template, and the controls it defines.

Each template fixes the names of its controls, so an import can check every result against them
(Label Studio itself stores out-of-range and unknown values without complaint).

- ``pairwise``: ``<Pairwise name="choice" toName="left,right">``; result ``{"selected": "left"|"right"}``.
- ``rating``: one ``<Rating name=CRITERION toName="response" maxRating=5>`` per criterion; one task
  per (item, response); result ``{"rating": n}``.
- ``ranking``: ``<List name="responses" value="$items">`` + ``<Ranker name="rank">``; result
  ``{"ranker": {name: [ids best..worst]}}`` (older Label Studio: a flat list of ids).
- ``edit``: ``<TextArea name="edit">`` pre-filled with the response; result ``{"text": [...]}``.
- ``demonstration``: ``<TextArea name="demonstration">`` for the prompt; result ``{"text": [...]}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from instructkit.errors import ConfigError

TEMPLATES = ("rating", "pairwise", "ranking", "edit", "demonstration")
DEFAULT_CRITERIA = ("overall",)
MAX_RATING = 5  # the usual 1-5 Likert scale (UltraFeedback, HelpSteer use 1-5 / 0-4)


@dataclass
class Control:
    """One control tag: its name, Label Studio result type and the value it must hold."""

    name: str
    type: str  # pairwise, rating, ranker, textarea
    max_rating: int = MAX_RATING


@dataclass
class Template:
    """A template's controls and its labeling config."""

    name: str
    criteria: tuple[str, ...] = ()
    controls: dict[str, Control] = field(default_factory=dict)
    config: str = ""

    @property
    def judgment_type(self) -> str:
        return {"demonstration": "edit"}.get(self.name, self.name)


def _criterion_ok(name: str) -> bool:
    return bool(name) and name.replace("_", "").isalnum() and not name[0].isdigit()


def build(name: str, criteria: tuple[str, ...] | list[str] | None = None, max_rating: int = MAX_RATING) -> Template:
    """The template ``name`` with its controls and XML config.

    Args:
        name: One of ``TEMPLATES``.
        criteria: Rating criteria (rating template only), e.g. helpfulness, correctness, harmlessness.
        max_rating: Top of the rating scale (1..max_rating).

    Raises:
        ConfigError: for an unknown template or a criterion that is not an identifier.
    """
    if name not in TEMPLATES:
        raise ConfigError(f"unknown template {name!r}", hint=f"use one of {', '.join(TEMPLATES)}")
    criteria = tuple(criteria or DEFAULT_CRITERIA) if name == "rating" else ()
    for c in criteria:
        if not _criterion_ok(c) or c in ("prompt", "response"):
            raise ConfigError(f"bad criterion name {c!r}", hint="use letters, digits and _, e.g. helpfulness")
    prompt = '  <Header value="Prompt"/>\n  <Text name="prompt" value="$prompt"/>\n'
    if name == "pairwise":
        controls = {"choice": Control("choice", "pairwise")}
        body = (
            prompt + '  <Header value="Which response is better?"/>\n'
            '  <Text name="left" value="$left"/>\n  <Text name="right" value="$right"/>\n'
            '  <Pairwise name="choice" toName="left,right" required="true"/>\n'
        )
    elif name == "rating":
        controls = {c: Control(c, "rating", max_rating) for c in criteria}
        body = prompt + '  <Header value="Response"/>\n  <Text name="response" value="$response"/>\n'
        for c in criteria:
            body += (
                f"  <Header value={quoteattr(c.replace('_', ' ').capitalize())}/>\n"
                f'  <Rating name="{c}" toName="response" maxRating="{max_rating}" required="true"/>\n'
            )
    elif name == "ranking":
        controls = {"rank": Control("rank", "ranker")}
        body = (
            prompt + '  <Header value="Drag the responses into order, best first"/>\n'
            '  <List name="responses" value="$items" title="Responses"/>\n'
            '  <Ranker name="rank" toName="responses"/>\n'
        )
    elif name == "edit":
        controls = {"edit": Control("edit", "textarea")}
        body = (
            prompt + '  <Header value="Response"/>\n  <Text name="response" value="$response"/>\n'
            '  <Header value="Correct the response (leave it as is if it is right)"/>\n'
            '  <TextArea name="edit" toName="response" value="$response" rows="10" editable="true" '
            'maxSubmissions="1" required="true"/>\n'
        )
    else:
        controls = {"demonstration": Control("demonstration", "textarea")}
        body = (
            prompt + '  <Header value="Write the ideal response"/>\n'
            '  <TextArea name="demonstration" toName="prompt" rows="10" editable="true" '
            'maxSubmissions="1" required="true"/>\n'
        )
    return Template(name, criteria, controls, f"<View>\n{body}</View>\n")
