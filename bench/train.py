"""SFT throughput: instructkit's `sft` against a plain TRL SFTTrainer script, packing off and on.

    .venv/bin/python bench/train.py                       # tiny model built offline, CPU
    .venv/bin/python bench/train.py --model Qwen/Qwen2.5-0.5B-Instruct --steps 50 --max-length 1024 \
        --batch-size 8 --chat-template training           # a real model on a GPU box

Both sides train the same model on the same data (data/samples/alpaca.json, ingested and repeated)
for the same number of optimizer steps with the same batch size, learning rate and seed, with loss on
assistant tokens only. Each run is a fresh subprocess, so peak memory (max RSS on the CPU,
torch.cuda.max_memory_allocated on a GPU) belongs to that run alone. Tokens/s = the tokens TRL counts
(``num_tokens`` in its log) / ``train_runtime``; "wall" adds model loading and data preparation
(our pre-flight tokenization of every example included).

Packing on the CPU: ours refuses it (eager/sdpa attention lets packed examples attend to each other,
FIELD-NOTES.md), so for "packing on" only the plain TRL number exists, and it is a contaminated run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _tokens(log_history: list[dict]) -> float:
    return max((e["num_tokens"] for e in log_history if "num_tokens" in e and "eval_loss" not in e), default=0.0)


def run_ours(a) -> dict:
    from instructkit.errors import InstructkitError
    from instructkit.train.sft import SFTParams, run_sft

    params = SFTParams(
        max_steps=a.steps,
        batch_size=a.batch_size,
        learning_rate=a.lr,
        max_length=a.max_length,
        packing=a.packing,
        save_steps=None,
        logging_steps=max(1, a.steps // 5),
        seed=0,
        chat_template=a.chat_template,
        bf16="auto",
        gradient_checkpointing=False,
    )
    try:
        res = run_sft([a.data], model=a.model, out=Path(a.work) / "ours", params=params, force=True)
    except InstructkitError as exc:
        return {"refused": str(exc)}
    log = json.loads(res["manifest"].read_text())["log_history"]
    return {"tokens": _tokens(log), "train_s": res["metrics"]["train_runtime"]}


def run_trl(a) -> dict:
    """The plain TRL script: what a user writes from TRL's docs (50 lines), with the same knobs."""
    import glob

    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from instructkit.shards import ShardSet

    parts = [str(p) for p in ShardSet(a.data).parts] or glob.glob(f"{a.data}/part-*.jsonl")
    ds = load_dataset("json", data_files=parts)["train"].select_columns(["messages"])
    tok = AutoTokenizer.from_pretrained(a.model)
    if a.chat_template == "chatml":
        from instructkit.train.tiny import CHATML_TEMPLATE

        tok.chat_template = CHATML_TEMPLATE
    import torch

    cpu = not torch.cuda.is_available()
    cfg = SFTConfig(
        output_dir=str(Path(a.work) / "trl"),
        max_steps=a.steps,
        per_device_train_batch_size=a.batch_size,
        learning_rate=a.lr,
        max_length=a.max_length,
        packing=a.packing,
        assistant_only_loss=True,
        use_cpu=cpu,
        bf16=not cpu and torch.cuda.is_bf16_supported(),
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=max(1, a.steps // 5),
        seed=0,
        disable_tqdm=True,
        **({"optim": a.trl_optim} if a.trl_optim else {}),
    )
    trainer = SFTTrainer(model=a.model, args=cfg, train_dataset=ds, processing_class=tok)
    out = trainer.train()
    return {"tokens": _tokens(trainer.state.log_history), "train_s": out.metrics["train_runtime"]}


def child(a) -> None:
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    from instructkit.train.common import quiet_libraries

    quiet_libraries()
    start = time.time()
    result = run_ours(a) if a.side == "ours" else run_trl(a)
    result.update(wall_s=time.time() - start, peak_mb=_peak_memory_mb())
    print("RESULT " + json.dumps(result), flush=True)


def prepare(work: Path, repeat: int) -> Path:
    """data/samples/alpaca.json ingested, repeated ``repeat`` times into one sft set."""
    from instructkit.records import make_record
    from instructkit.shards import ShardSet, ShardWriter

    subprocess.run(
        [
            sys.executable,
            "-m",
            "instructkit",
            "ingest",
            str(ROOT / "data/samples/alpaca.json"),
            "-o",
            str(work / "ingest"),
        ],
        check=True,
        capture_output=True,
    )
    records = list(ShardSet(work / "ingest"))
    with ShardWriter(work / "data", stage="bench", conserving=False) as w:
        for i in range(repeat):
            for r in records:
                w.write(make_record("sft", id=f"{r['id']}-{i}", messages=r["messages"]))
    return w.path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="model dir or hub id (default: a tiny model built offline)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--repeat", type=int, default=10, help="copies of the 40 sample records")
    ap.add_argument("--chat-template", default=None, help="as instructkit sft --chat-template")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: the dev machine is a shared 2-core box; 0: torch's default)",
    )
    ap.add_argument("--runs", type=int, default=2, help="runs per configuration (the best is reported)")
    ap.add_argument(
        "--trl-optim",
        help="optimizer of the plain TRL script (default: TRL's, adamw_torch_fused "
        "on torch >= 2.8; ours pins adamw_torch)",
    )
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--packing", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.side:
        child(a)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    if a.model is None:
        from instructkit.train.tiny import build_tiny

        a.model = str(build_tiny(work / "tiny"))
    data = prepare(work, a.repeat)
    rows = []
    for packing in (False, True):
        best: dict[str, dict] = {}
        for _ in range(a.runs):
            for side in ("ours", "trl"):  # interleaved, so machine load hits both alike
                cmd = [
                    sys.executable,
                    __file__,
                    "--side",
                    side,
                    "--data",
                    str(data),
                    "--work",
                    str(work),
                    "--model",
                    a.model,
                    "--steps",
                    str(a.steps),
                    "--batch-size",
                    str(a.batch_size),
                    "--max-length",
                    str(a.max_length),
                    "--lr",
                    str(a.lr),
                    "--threads",
                    str(a.threads),
                ]
                cmd += ["--packing"] if packing else []
                cmd += ["--chat-template", a.chat_template] if a.chat_template else []
                cmd += ["--trl-optim", a.trl_optim] if a.trl_optim else []
                proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
                line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
                if line is None:
                    raise SystemExit(f"{side} failed:\n{proc.stderr[-3000:]}")
                r = json.loads(line[7:])
                if "tokens" in r:
                    r["tok_s"] = r["tokens"] / r["train_s"]
                if side not in best or r.get("tok_s", 0) > best[side].get("tok_s", 0):
                    best[side] = r
        rows.append((packing, best))

    import torch

    device = (
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {a.threads or 'default'} torch thread(s)"
    )
    print(
        f"model {a.model}, {a.steps} steps x batch {a.batch_size}, max_length {a.max_length}, "
        f"{40 * a.repeat} records, {device}; best of {a.runs}"
    )
    print(f"{'packing':8} {'side':5} {'tokens/s':>10} {'train s':>8} {'wall s':>7} {'peak MB':>8}  ratio ours/trl")
    for packing, best in rows:
        for side in ("ours", "trl"):
            r = best[side]
            if "refused" in r:
                print(
                    f"{'on' if packing else 'off':8} {side:5} {'refused':>10} {'-':>8} {r['wall_s']:7.1f} "
                    f"{r['peak_mb']:8.0f}  ({r['refused'].split(' (')[0][:90]})"
                )
                continue
            ratio = ""
            if side == "ours" and "tok_s" in best["trl"]:
                ratio = f"{r['tok_s'] / best['trl']['tok_s']:.2f}x tokens/s, {r['wall_s'] / best['trl']['wall_s']:.2f}x wall"
            print(
                f"{'on' if packing else 'off':8} {side:5} {r['tok_s']:10.0f} {r['train_s']:8.1f} {r['wall_s']:7.1f} "
                f"{r['peak_mb']:8.0f}  {ratio}"
            )
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    if "refused" in rows[1][1]["ours"]:
        print(
            "packing on the CPU: ours refuses it for correctness; the TRL number is a run whose packed "
            "examples attend to each other (eager/sdpa attention, no varlen kernel)."
        )


if __name__ == "__main__":
    main()
