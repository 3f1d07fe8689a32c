"""``instructkit chat MODEL``: talk to a model in the terminal (a command, not a data stage).

MODEL is a local model directory (or a hub id where a hub is reachable), whose chat template builds
the prompt and whose tokens stream as they are generated (transformers' ``TextIteratorStreamer``), or
an OpenAI-compatible server URL (``generation.HttpGenerator``; its reply prints whole). Reads one
user turn per line from stdin, so it also runs on piped input (``printf 'Hi\\n/save c.jsonl\\n' |
instructkit chat out/sft``). Commands: ``/system TEXT`` (set the system message), ``/reset`` (forget
the conversation, keep the system message), ``/save FILE`` (append the conversation to FILE as one
``sft`` record, JSONL, loadable by ``instructkit ingest``), ``/help``, ``/quit`` (or end of input).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

HELP = "/system TEXT  set the system message | /reset  forget the conversation | /save FILE  append it as an sft record | /quit"


class LocalChat:
    """A local model that streams its reply to ``write`` token by token."""

    def __init__(self, model_dir: str, *, device: str | None, trust_remote_code: bool):
        from instructkit.generation import load_causal_lm

        self.model, self.tokenizer = load_causal_lm(model_dir, trust_remote_code=trust_remote_code, device=device)
        eos = {self.tokenizer.eos_token_id}
        gen_eos = self.model.generation_config.eos_token_id
        eos.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        self.eos_ids = sorted(i for i in eos if i is not None)
        self.max_positions = getattr(self.model.config, "max_position_embeddings", None)

    def reply(self, messages: list[dict], write, *, max_new_tokens: int, temperature: float, top_p: float) -> str:
        import threading

        import torch
        from transformers import TextIteratorStreamer

        from instructkit.generation import chat_prompt

        text = chat_prompt(self.tokenizer, messages)
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        if self.max_positions and ids.shape[1] + max_new_tokens > self.max_positions:
            ids = ids[:, -(self.max_positions - max_new_tokens) :]  # keep the newest turns
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = {
            "input_ids": ids.to(self.model.device),
            "attention_mask": torch.ones_like(ids).to(self.model.device),
            "max_new_tokens": max_new_tokens,
            "eos_token_id": self.eos_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
            "streamer": streamer,
            "do_sample": temperature > 0,
        }
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.no_grad():
                    self.model.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        parts = []
        for piece in streamer:
            parts.append(piece)
            write(piece)
        thread.join()
        if errors:
            raise errors[0]
        return "".join(parts)


class RemoteChat:
    """An OpenAI-compatible server (the reply prints whole)."""

    def __init__(self, url: str, *, model: str | None, api_key_env: str):
        from instructkit.generation import make_generator

        self.gen = make_generator(url, model=model, api_key_env=api_key_env)

    def reply(self, messages: list[dict], write, *, max_new_tokens: int, temperature: float, top_p: float) -> str:
        text = self.gen.generate([messages], max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)[0]
        write(text)
        return text


def save(path: Path, messages: list[dict], model: str) -> dict:
    """Append the conversation to ``path`` as one sft record; return it."""
    from instructkit.records import make_record

    record = make_record("sft", messages=messages, source={"chat": model})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


def chat(
    model: Annotated[str, typer.Argument(help="A local model directory or an OpenAI-compatible server URL.")],
    system: Annotated[Optional[str], typer.Option("--system", help="A system message to start with.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="Token limit of a reply.")] = 256,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="0: greedy.")] = 0.7,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling top-p.")] = 0.9,
    seed: Annotated[int, typer.Option("--seed", help="Seed of local sampling.")] = 0,
    api_model: Annotated[Optional[str], typer.Option("--api-model", help="HTTP: the server's model name.")] = None,
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="HTTP: environment variable holding the API key.")
    ] = "OPENAI_API_KEY",
    device: Annotated[Optional[str], typer.Option("--device", help="Local: cpu, cuda, cuda:1.")] = None,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="Run the model's own code.")] = False,
) -> None:
    """Chat with a model in the terminal: the model's chat template, streamed tokens, /system, /reset, /save FILE.

    Example: instructkit chat out/sft --system "Answer briefly."

    Example: printf 'Hello\\n/save chat.jsonl\\n' | instructkit chat out/sft --temperature 0
    """
    from instructkit.generation import is_url

    if is_url(model):
        bot = RemoteChat(model, model=api_model, api_key_env=api_key_env)
    else:
        import torch

        torch.manual_seed(seed)
        bot = LocalChat(model, device=device, trust_remote_code=trust_remote_code)
    tty = sys.stdin.isatty()
    out = sys.stdout
    prefix = [{"role": "system", "content": system}] if system else []
    turns: list[dict] = []
    if tty:
        print(f"chatting with {model}  ({HELP})", file=sys.stderr)

    def write(piece: str) -> None:
        out.write(piece)
        out.flush()

    while True:
        if tty:
            out.write("you> ")
            out.flush()
        line = sys.stdin.readline()
        if not line:
            break
        text = line.rstrip("\n")
        command, _, arg = text.strip().partition(" ")
        if command in ("/quit", "/exit"):
            break
        if command == "/help":
            print(HELP)
        elif command == "/system":
            prefix = [{"role": "system", "content": arg.strip()}] if arg.strip() else []
            print("[system message set]" if prefix else "[system message cleared]")
        elif command == "/reset":
            turns = []
            print("[conversation reset]")
        elif command == "/save":
            if not arg.strip():
                print("[usage: /save FILE]")
            elif not turns:
                print("[nothing to save yet]")
            else:
                record = save(Path(arg.strip()), prefix + turns, model)
                print(f"[saved {len(turns) // 2} turn(s) to {arg.strip()} as sft record {record['id']}]")
        elif text.strip():
            turns.append({"role": "user", "content": text})
            if tty:
                write("bot> ")
            reply = bot.reply(
                prefix + turns, write, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p
            )
            write("\n")
            turns.append({"role": "assistant", "content": reply})
