"""report.md ends with example generations: the first prompts, each model's reply and the reference."""

from __future__ import annotations

from instructkit.eval.report import examples_markdown, markdown


def _rows():
    rows = []
    for i, prompt in enumerate(["Give three tips for staying healthy.", "Name a prime number.", "Say hi.", "More"]):
        for model, text in (("sft", f"sft answer {i}"), ("base", f"base answer {i}")):
            rows.append(
                {
                    "set": "heldout",
                    "id": f"r{i}",
                    "model": model,
                    "prompt": [{"role": "system", "content": "be brief"}, {"role": "user", "content": prompt}],
                    "generation": text,
                    "reference": f"reference {i}",
                }
            )
    return rows


def test_first_k_prompts_with_every_model_side_by_side():
    md = "\n".join(examples_markdown(_rows(), k=3))
    assert md.startswith("## Example generations")
    assert "### 1. Give three tips for staying healthy." in md and "### 3. Say hi." in md
    assert "### 4." not in md and "More" not in md
    assert md.index("> reference 0") < md.index("`sft`:") < md.index("> sft answer 0") < md.index("> base answer 0")
    assert "be brief" not in md  # the user turn is the heading, not the system prompt


def test_long_generations_are_cut_and_empty_ones_shown():
    rows = _rows()[:2]
    rows[0]["generation"] = "x" * 2000
    rows[1]["generation"] = ""
    md = "\n".join(examples_markdown(rows, chars=100))
    assert "x" * 100 + " [...]" in md and "x" * 101 not in md
    assert "> (empty)" in md


def test_markdown_without_generations_has_no_examples_section():
    report = {"created": "now", "instructkit": "0", "data": [], "metrics": []}
    assert "Example generations" not in markdown(report, [])
    assert "## Example generations" in markdown(report, [], _rows())
