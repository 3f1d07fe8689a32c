"""Rollout and update throughput of our PPO against TRL's GRPOTrainer on the same model, prompts and
completion length (samples = completions; each variant runs in its own process for a clean peak RSS).

    .venv/bin/python bench/rlhf.py                      # tiny model (hidden 64), CPU
    .venv/bin/python bench/rlhf.py --hidden-size 256 --layers 4 --new-tokens 32 --steps 8

Both sides do one optimizer step per batch of ``--completions`` completions (ours: ppo_epochs=1, one
minibatch; GRPO: num_iterations=1, steps_per_generation=1), sample with temperature 1 and no top-k/top-p,
and score with the same Python reward function. The first step is warm-up and not timed. For ours the
rollout (generate + reward + policy/reference/value passes + GAE) and the update are timed separately;
TRL's GRPOTrainer does not expose that split, so its number is end to end (its ``step_time``).
A third line, ``ours x4``, is our default-style update (4 epochs of 2 minibatches) on the same rollouts.
The variants run in turn ``--repeats`` times and the fastest run of each is reported: on a shared
machine a neighbour's load only ever slows a run down.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def reward(prompts, completions, **kwargs):
    return [sum(ch.isdigit() for ch in c[0]["content"]) / max(1, len(c[0]["content"])) for c in completions]


def prompts(n: int) -> list[dict]:
    from instructkit.records import make_record, message

    topics = "sea sky fox dog poem tips planets sun answer french paragraph light".split()
    return [
        make_record("prompt", prompt=[message("user", f"Write about the {topics[i % 12]} number {i}.")])
        for i in range(n)
    ]


def run_ours(a, model_dir: Path, epochs: int, minibatches: int) -> dict:
    import torch

    from instructkit.train.common import load_causal_lm, load_tokenizer, quiet_libraries
    from instructkit.train.ppo.config import PPOConfig
    from instructkit.train.ppo.trainer import PPOTrainer

    quiet_libraries()
    torch.manual_seed(0)
    cfg = PPOConfig(
        max_steps=a.steps + 1,
        batch_size=a.completions,
        mini_batch_size=a.completions // minibatches,
        ppo_epochs=epochs,
        max_new_tokens=a.new_tokens,
        learning_rate=1e-4,
        save_steps=0,
    )
    tok = load_tokenizer(model_dir)
    trainer = PPOTrainer(
        cfg,
        policy=load_causal_lm(model_dir, dtype="float32"),
        ref_model=load_causal_lm(model_dir, dtype="float32"),
        tokenizer=tok,
        sources=[reward],
        records=prompts(64),
    )
    trainer.train()
    timed = trainer.history[1:]
    roll = sum(h["time/rollout_s"] for h in timed)
    upd = sum(h["time/update_s"] for h in timed)
    tokens = sum(h["response/length"] for h in timed) * a.completions
    n = a.completions * len(timed)
    return {"samples": n, "tokens": tokens, "rollout_s": roll, "update_s": upd, "total_s": roll + upd}


def run_grpo(a, model_dir: Path) -> dict:
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from instructkit.train.common import load_causal_lm, load_tokenizer, quiet_libraries

    quiet_libraries()
    torch.manual_seed(0)
    tok = load_tokenizer(model_dir)
    ds = Dataset.from_list([{"prompt": r["prompt"]} for r in prompts(64)])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = GRPOConfig(
            output_dir=tmp,
            max_steps=a.steps + 1,
            per_device_train_batch_size=a.completions,
            num_generations=a.gen_per_prompt,
            max_completion_length=a.new_tokens,
            learning_rate=1e-4,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            beta=0.04,
            num_iterations=1,
            steps_per_generation=1,
            logging_steps=1,
            report_to="none",
            use_cpu=True,
            bf16=False,
            gradient_checkpointing=False,
            save_strategy="no",
            disable_tqdm=True,
            seed=0,
            log_completions=False,
        )
        trainer = GRPOTrainer(
            model=load_causal_lm(model_dir, dtype="float32"),
            reward_funcs=[reward],
            args=cfg,
            train_dataset=ds,
            processing_class=tok,
        )
        trainer.train()
        steps = [h for h in trainer.state.log_history if "step_time" in h][1:]
    total = sum(h["step_time"] for h in steps)
    tokens = sum(h["completions/mean_length"] for h in steps) * a.completions
    return {
        "samples": a.completions * len(steps),
        "tokens": tokens,
        "rollout_s": None,
        "update_s": None,
        "total_s": total,
    }


def child(a) -> None:
    import torch

    torch.set_num_threads(a.threads)  # one thread: on a shared 2-core box, oversubscribed threads spin
    model_dir = Path(a.model)
    t = time.time()
    if a.run == "ours":
        out = run_ours(a, model_dir, 1, 1)
    elif a.run == "ours4":
        out = run_ours(a, model_dir, 4, 2)
    else:
        out = run_grpo(a, model_dir)
    out["wall_s"] = time.time() - t
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--completions", type=int, default=16, help="completions per optimizer step")
    p.add_argument("--gen-per-prompt", type=int, default=4, help="GRPO group size")
    p.add_argument("--new-tokens", type=int, default=16)
    p.add_argument("--steps", type=int, default=6, help="timed steps (after one warm-up step)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--repeats", type=int, default=2, help="runs of each variant, interleaved; best is kept")
    p.add_argument("--run", choices=["ours", "ours4", "grpo"], help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.run:
        return child(a)
    import torch

    from instructkit.train.tiny import build_tiny

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny(Path(tmp) / "m", hidden_size=a.hidden_size, layers=a.layers)
        results: dict[str, dict] = {}
        for _ in range(a.repeats):
            for run in ("ours", "grpo", "ours4"):
                cmd = [sys.executable, __file__, "--run", run, "--model", str(model_dir)] + [
                    f"--{k.replace('_', '-')}={v}" for k, v in vars(a).items() if k not in ("run", "model")
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    sys.exit(f"{run} failed:\n{proc.stderr[-3000:]}")
                r = json.loads(line[7:])
                if run not in results or r["total_s"] < results[run]["total_s"]:
                    results[run] = r
    print(
        f"model: tiny Llama hidden {a.hidden_size}, {a.layers} layers; {a.completions} completions/step of "
        f"{a.new_tokens} new tokens; {a.steps} timed steps; best of {a.repeats}; torch threads {a.threads}; "
        f"device {'cuda' if torch.cuda.is_available() else 'cpu'}"
    )
    print(f"{'':>14} {'samples/s':>10} {'rollout/s':>10} {'update/s':>10} {'tokens/s':>9} {'peak RSS':>9}")
    for name, label in (("ours", "ours (PPO)"), ("grpo", "TRL GRPO"), ("ours4", "ours x4 upd")):
        r = results[name]
        roll = f"{r['samples'] / r['rollout_s']:.1f}" if r["rollout_s"] else "-"
        upd = f"{r['samples'] / r['update_s']:.1f}" if r["update_s"] else "-"
        print(
            f"{label:>14} {r['samples'] / r['total_s']:>10.1f} {roll:>10} {upd:>10} "
            f"{r['tokens'] / r['total_s']:>9.0f} {r['peak_rss_mb']:>7.0f}MB"
        )
    ratio = (results["ours"]["samples"] / results["ours"]["total_s"]) / (
        results["grpo"]["samples"] / results["grpo"]["total_s"]
    )
    print(f"ratio ours/GRPO (end-to-end samples/s, one update per batch): {ratio:.2f}x")


if __name__ == "__main__":
    main()
