"""The ~19,000-record instruction mix of bench/filter.py: GSM8K, role-play, tool use and Alpaca style.

Real data from ../shared/data (GSM8K train 7,473; GPTeacher role-play 3,146; the 175 Self-Instruct seed
tasks) plus seeded generated rows: 3,000 OpenAI-format tool-use chats (a tool call, its result, an
answer) and Alpaca-style rows (bench/ingest.py's generator) to reach 19,000. Same bytes every run.

Run: .venv/bin/python bench/mix.py   (writes bench/out/mix/*.json[l] and prints the paths)
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out" / "mix"
REAL = ["gsm8k_train_alpaca.json", "gpteacher_roleplay_alpaca.json", "alpaca_seed_tasks.jsonl"]
TOTAL, TOOL_ROWS = 19_000, 3_000

CITIES = ["Paris", "Lagos", "Osaka", "Lima", "Oslo", "Pune", "Quito", "Perth", "Cairo", "Denver"]
ITEMS = ["dentist", "plumber", "team sync", "flight to Rome", "gym session", "parents", "landlord"]


def _tool_row(rng: random.Random, i: int) -> dict:
    kind = rng.randrange(3)
    call_id = f"call_{i}"
    if kind == 0:
        a, pct = round(rng.uniform(8, 400), 2), rng.choice([10, 12, 15, 18, 20, 25])
        q, name = f"What's a {pct}% tip on a {a} dollar bill?", "calculator"
        args, result = {"expression": f"{a} * {pct / 100}"}, f"{a * pct / 100:.2f}"
        answer = f"A {pct}% tip on ${a} is ${result}, so the total comes to ${a + float(result):.2f}."
    elif kind == 1:
        city = rng.choice(CITIES)
        temp = rng.randint(-5, 35)
        q, name = f"What's the weather like in {city} right now?", "get_weather"
        args, result = {"city": city}, json.dumps({"temp_c": temp, "sky": rng.choice(["clear", "cloudy", "rain"])})
        answer = f"It is {temp} degrees Celsius in {city} at the moment; check again before you head out."
    else:
        item, hour = rng.choice(ITEMS), rng.randint(7, 19)
        q, name = f"Remind me to call the {item} tomorrow at {hour}.", "create_reminder"
        args, result = {"text": f"Call the {item}", "time": f"{hour:02d}:00"}, '{"ok": true}'
        answer = f"Done: I set a reminder to call the {item} tomorrow at {hour}:00."
    return {
        "messages": [
            {"role": "system", "content": "You can call tools when they help answer the user."},
            {"role": "user", "content": q},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": result},
            {"role": "assistant", "content": answer},
        ]
    }


def build() -> list[Path]:
    """Write the mix (once) and return its files."""
    missing = [f for f in REAL if not (DATA / f).is_file()]
    if missing:
        sys.exit(f"public data not found: {missing} under {DATA}")
    OUT.mkdir(parents=True, exist_ok=True)
    tools, alpaca = OUT / "tool_use.jsonl", OUT / "alpaca_generated.jsonl"
    if not tools.is_file() or not alpaca.is_file():
        rng = random.Random(0)
        with open(tools, "w", encoding="utf-8") as fh:
            for i in range(TOOL_ROWS):
                fh.write(json.dumps(_tool_row(rng, i)) + "\n")
        real = len(json.loads((DATA / REAL[0]).read_text())) + len(json.loads((DATA / REAL[1]).read_text()))
        real += sum(1 for _ in open(DATA / REAL[2], encoding="utf-8"))
        sys.path.insert(0, str(ROOT / "bench"))
        from ingest import generate  # the seeded Alpaca generator of bench/ingest.py

        rows = TOTAL - real - TOOL_ROWS
        tmp = OUT / "alpaca_all.jsonl"
        generate(tmp, 6)  # ~8k rows of ~730 bytes; keep the first `rows`
        with open(tmp, encoding="utf-8") as src, open(alpaca, "w", encoding="utf-8") as dst:
            for _, line in zip(range(rows), src, strict=False):
                dst.write(line)
        tmp.unlink()
    return [DATA / f for f in REAL] + [tools, alpaca]


if __name__ == "__main__":
    for path in build():
        print(path)
