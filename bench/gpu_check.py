"""GPU check (``make gpu-check``): sft (packing, bf16), reward, dpo, grpo and ppo through instructkit,
each against a plain TRL script on the same model, data, steps and batch size; tokens/s ratios and peak
GPU memory. Prepared to run in one go on a CUDA machine in under 8 minutes; without CUDA it says it
was skipped and exits 0.

    .venv/bin/python bench/gpu_check.py                  # SmolLM2-135M if `instructkit model get` works,
                                                         # else a randomly initialised 12-layer Llama
    .venv/bin/python bench/gpu_check.py --steps 30
    .venv/bin/python bench/gpu_check.py --cpu-smoke      # the same code paths on the CPU, tiny model, 2 steps

Each run is a fresh subprocess, so its peak memory (``torch.cuda.max_memory_allocated``) is its own.
Tokens/s = the tokens TRL counts (``num_tokens`` in its log) / ``train_runtime``; for ppo (TRL has no
PPO) the baseline is TRL's GRPO with the same number of completions of the same length per step, and
tokens are completion tokens. Packing needs FlashAttention (``flash-attn``); without it ours refuses
packing (CPU-safe rule, FIELD-NOTES.md), so sft is then run without packing on both sides, and says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("sft", "reward", "dpo", "grpo", "ppo")


def reward_fn(prompts, completions, **kwargs):
    """Share of digit characters (dense enough to give GRPO/PPO a signal on any model)."""
    return [sum(ch.isdigit() for ch in c[0]["content"]) / max(1, len(c[0]["content"])) for c in completions]


# --- data ------------------------------------------------------------------------------------


def write_data(work: Path) -> dict[str, str]:
    """An sft set (data/samples/alpaca.json x 8), a preference set and a prompt set, as shard sets."""
    import random

    from instructkit.records import make_record, message
    from instructkit.shards import ShardSet, ShardWriter

    subprocess.run(
        [sys.executable, "-m", "instructkit", "ingest", str(ROOT / "data/samples/alpaca.json"), "-o", str(work / "in")],
        check=True,
        capture_output=True,
    )
    rows = list(ShardSet(work / "in"))
    with ShardWriter(work / "sft", stage="bench", conserving=False) as w:
        for i in range(8):
            for r in rows:
                w.write(make_record("sft", id=f"{r['id']}-{i}", messages=r["messages"]))
    sft = w.path
    rng = random.Random(0)
    with ShardWriter(work / "prefs", stage="bench", conserving=False) as w:
        for r in rows * 4:
            prompt, answer = r["messages"][:-1], r["messages"][-1]["content"]
            worse = " ".join(answer.split()[: max(1, len(answer.split()) // 3)])
            w.write(
                make_record(
                    "preference",
                    prompt=prompt,
                    chosen=[message("assistant", answer)],
                    rejected=[message("assistant", worse + f" {rng.random():.3f}")],
                )
            )
    prefs = w.path
    with ShardWriter(work / "prompts", stage="bench", conserving=False) as w:
        for r in rows * 4:
            w.write(make_record("prompt", prompt=r["messages"][:-1]))
    fn = work / "bench_reward.py"  # the same function as reward_fn above, as a --reward-fn file for ours
    fn.write_text(
        "def reward_fn(prompts, completions, **kwargs):\n"
        "    return [sum(ch.isdigit() for ch in c[0]['content']) / max(1, len(c[0]['content'])) for c in completions]\n"
    )
    return {"sft": str(sft), "prefs": str(prefs), "prompts": str(w.path), "fn": f"{fn}:reward_fn"}


def get_model(work: Path, cpu_smoke: bool) -> tuple[str, str]:
    """SmolLM2-135M-Instruct through `instructkit model get`, else a random 12-layer Llama (or tiny on CPU)."""
    from instructkit.train.tiny import build_tiny

    if cpu_smoke:
        return str(build_tiny(work / "tiny")), "tiny Llama (CPU smoke run)"
    out = work / "smollm2"
    proc = subprocess.run(
        [sys.executable, "-m", "instructkit", "model", "get", "smollm2-135m-instruct", str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0 and (out / "config.json").is_file():
        return str(out), "SmolLM2-135M-Instruct"
    reason = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
    print(f"model get smollm2-135m-instruct failed ({reason[0]}): using a random 12-layer Llama")
    return str(build_tiny(work / "llama", hidden_size=768, layers=12, heads=12)), "random Llama 768x12"


# --- one run (a child process) ---------------------------------------------------------------


def trl_tokenizer(model: str):
    from transformers import AutoTokenizer

    from instructkit.train.tiny import CHATML_TEMPLATE

    tok = AutoTokenizer.from_pretrained(model)
    tok.chat_template = CHATML_TEMPLATE  # the template ours uses (--chat-template chatml): same tokens
    if tok.pad_token is None or tok.pad_token == tok.eos_token:
        tok.pad_token = "<|endoftext|>" if "<|endoftext|>" in tok.get_vocab() else tok.unk_token
    return tok


def trl_common(a, out: str) -> dict:
    import torch

    cpu = not torch.cuda.is_available()
    return dict(
        output_dir=out,
        max_steps=a.steps,
        per_device_train_batch_size=a.batch_size,
        learning_rate=1e-5,
        bf16=not cpu,
        use_cpu=cpu,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=0,
        disable_tqdm=True,
    )


def rows(path: str, cols: list[str]):
    from datasets import Dataset

    from instructkit.shards import ShardSet

    return Dataset.from_list([{c: r[c] for c in cols} for r in ShardSet(path)])


def run_trl(a, case: str, out: str) -> list[dict]:
    import trl

    tok = trl_tokenizer(a.model)
    kw = trl_common(a, out)
    if case == "sft":
        init = {"attn_implementation": "flash_attention_2"} if a.packing else None  # as ours with packing
        cfg = trl.SFTConfig(
            **kw,
            max_length=a.max_length,
            packing=a.packing,
            padding_free=a.packing,
            assistant_only_loss=True,
            model_init_kwargs=init,
        )
        t = trl.SFTTrainer(
            model=a.model, args=cfg, train_dataset=rows(a.data["sft"], ["messages"]), processing_class=tok
        )
    elif case == "reward":
        cfg = trl.RewardConfig(**kw, max_length=a.max_length)
        t = trl.RewardTrainer(
            model=a.model,
            args=cfg,
            processing_class=tok,
            train_dataset=rows(a.data["prefs"], ["prompt", "chosen", "rejected"]),
        )
    elif case == "dpo":
        cfg = trl.DPOConfig(**kw, max_length=a.max_length, beta=0.1)
        t = trl.DPOTrainer(
            model=a.model,
            args=cfg,
            processing_class=tok,
            train_dataset=rows(a.data["prefs"], ["prompt", "chosen", "rejected"]),
        )
    else:  # grpo, and the baseline of ppo
        cfg = trl.GRPOConfig(
            **kw,
            num_generations=a.generations,
            max_completion_length=a.new_tokens,
            beta=0.04,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
        )
        t = trl.GRPOTrainer(
            model=a.model,
            reward_funcs=[reward_fn],
            args=cfg,
            processing_class=tok,
            train_dataset=rows(a.data["prompts"], ["prompt"]),
        )
    t.train()
    return t.state.log_history


def run_ours(a, case: str, out: str) -> list[dict]:
    import instructkit

    common = dict(
        max_steps=a.steps,
        batch_size=a.batch_size,
        learning_rate=1e-5,
        save_steps=None,
        seed=0,
        logging_steps=1,
        chat_template="chatml",
        force=True,
    )
    if case == "sft":
        r = instructkit.sft([a.data["sft"]], out, model=a.model, max_length=a.max_length, packing=a.packing, **common)
    elif case == "reward":
        r = instructkit.reward([a.data["prefs"]], out, model=a.model, max_length=a.max_length, eval_split=0.0, **common)
    elif case == "dpo":
        r = instructkit.rlhf([a.data["prefs"]], out, algo="dpo", policy=a.model, max_length=a.max_length, **common)
    elif case == "grpo":
        r = instructkit.rlhf(
            [a.data["prompts"]],
            out,
            algo="grpo",
            policy=a.model,
            reward_fn=[a.data["fn"]],
            num_generations=a.generations,
            max_completion_length=a.new_tokens,
            **common,
        )
    else:
        common.pop("logging_steps")
        r = instructkit.rlhf(
            [a.data["prompts"]],
            out,
            algo="ppo",
            policy=a.model,
            reward_fn=[a.data["fn"]],
            max_new_tokens=a.new_tokens,
            mini_batch_size=a.batch_size // 2,
            **common,
        )
    return json.loads((Path(r) / "manifest.json").read_text())["log_history"]


def measure(history: list[dict], case: str, side: str, a) -> dict:
    """Tokens and seconds of the timed steps (TRL's count; completion tokens for ppo and its baseline)."""
    if case == "ppo" and side == "ours":
        timed = history[1:]  # the first iteration pays for CUDA warm-up
        secs = sum(h["time/rollout_s"] + h["time/update_s"] for h in timed)
        return {"tokens": sum(h["response/length"] for h in timed) * a.batch_size, "seconds": secs}
    if case == "ppo":  # TRL GRPO as the baseline: completion tokens only, like ours
        steps = [h for h in history if "completions/mean_length" in h][1:]
        secs = sum(h.get("step_time", 0.0) for h in steps)
        return {"tokens": sum(h["completions/mean_length"] for h in steps) * a.batch_size, "seconds": secs}
    end = next(h for h in history if "train_runtime" in h)
    tokens = max((h["num_tokens"] for h in history if "num_tokens" in h), default=0.0)
    return {"tokens": tokens, "seconds": end["train_runtime"]}


def child(a) -> None:
    import torch

    from instructkit.train.common import quiet_libraries

    quiet_libraries()
    a.data = json.loads(a.data)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        try:
            history = (run_ours if a.side == "ours" else run_trl)(a, a.case, str(Path(tmp) / "out"))
        except Exception as exc:  # noqa: BLE001 - reported in the table, the other cases still run
            print("RESULT " + json.dumps({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}))
            return
        result = measure(history, a.case, a.side, a)
    result["wall_s"] = time.time() - start
    result["peak_gb"] = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    print("RESULT " + json.dumps(result), flush=True)


# --- the driver ------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=64, help="completion length of grpo and ppo")
    ap.add_argument("--generations", type=int, default=4, help="GRPO group size")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--timeout", type=int, default=150, help="seconds per run")
    ap.add_argument("--cpu-smoke", action="store_true", help="run the code paths on the CPU (tiny model, 2 steps)")
    for hidden in ("--side", "--case", "--model", "--data"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    ap.add_argument("--packing", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.side:
        return child(a)
    import torch

    if not torch.cuda.is_available() and not a.cpu_smoke:
        print("gpu-check skipped: no CUDA GPU visible (torch.cuda.is_available() is False)")
        return
    if a.cpu_smoke:
        a.steps, a.batch_size, a.max_length, a.new_tokens = 2, 4, 128, 8
    from instructkit.train.common import flash_attention_available

    packing = torch.cuda.is_available() and flash_attention_available()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        model, label = get_model(work, a.cpu_smoke)
        data = write_data(work)
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        print(
            f"{gpu}; model {label}; {a.steps} steps x batch {a.batch_size}; max_length {a.max_length}; "
            f"bf16 {torch.cuda.is_available()}; sft packing {'on' if packing else 'off (no flash-attn)'}"
        )
        print(f"{'case':<7} {'ours tok/s':>11} {'TRL tok/s':>10} {'ratio':>6} {'ours GB':>8} {'TRL GB':>7}  note")
        failed = 0
        for case in a.cases.split(","):
            res = {}
            for side in ("ours", "trl"):
                # TRL's side of ppo runs GRPO (run_trl's last branch), measured as completion tokens.
                cmd = [
                    sys.executable,
                    __file__,
                    "--side",
                    side,
                    "--case",
                    case,
                    "--model",
                    model,
                    "--data",
                    json.dumps(data),
                ] + (["--packing"] if packing else [])
                cmd += [
                    f"--steps={a.steps}",
                    f"--batch-size={a.batch_size}",
                    f"--max-length={a.max_length}",
                    f"--new-tokens={a.new_tokens}",
                    f"--generations={a.generations}",
                ]
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout, cwd=work)
                    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                    res[side] = json.loads(line[7:]) if line else {"error": proc.stderr.strip()[-300:]}
                except subprocess.TimeoutExpired:
                    res[side] = {"error": f"over {a.timeout} s"}
            print(row(case, res, packing))
            failed += any("error" in r for r in res.values())
        print(f"total {time.time() - started:.0f} s")
    sys.exit(1 if failed else 0)


def row(case: str, res: dict, packing: bool) -> str:
    ours, trl_ = res["ours"], res["trl"]
    if "error" in ours or "error" in trl_:
        return f"{case:<7} error: ours {ours.get('error', 'ok')} | TRL {trl_.get('error', 'ok')}"

    def rate(r):
        return r["tokens"] / r["seconds"] if r["seconds"] else 0.0

    def gb(r):
        return f"{r['peak_gb']:.2f}" if r["peak_gb"] is not None else "-"

    ratio = rate(ours) / rate(trl_) if rate(trl_) else float("nan")
    note = {"ppo": "baseline: TRL GRPO (TRL has no PPO)", "sft": "packing" if packing else "no packing"}.get(case, "")
    return f"{case:<7} {rate(ours):>11.0f} {rate(trl_):>10.0f} {ratio:>6.2f} {gb(ours):>8} {gb(trl_):>7}  {note}"


if __name__ == "__main__":
    main()
