"""Self-Instruct (Wang et al. 2022) as Stanford Alpaca ran it (Taori et al. 2023).

Each batch sends ``batch_size`` requests; each request shows ``prompt_tasks`` example tasks sampled
from the seeds (and, once there are some, ``prompt_machine_tasks`` of the generated ones) and asks for
a list of ``instructions_per_request`` tasks. Every parsed item is a candidate: it is checked by the
rules (``rules.py``) and by ROUGE-L against the pool of seed and accepted instructions (the pool grows
as candidates are accepted, as in Alpaca). An accepted instruction that came without an output, or all
of them with ``instances=separate``, gets its instance from two more requests: is it a classification
task (Yes/No), then an input-first or (for classification) output-first instance.

``prompt_style=short`` (small chat generators) asks for one task per request and takes the
generator's own answer to it as the output, with no input and no classification step (prompts.py).

Every candidate ends as exactly one kept record or one rejected record with its reason, so the
manifest's ``in == kept + sum(rejected)``.
"""

from __future__ import annotations

import random
from typing import Any

from instructkit.synth.common import SynthParams, SynthProgress, candidate_record, provenance, sft_record, user_text
from instructkit.synth.engine import Engine, OutOfBudget
from instructkit.synth.parse import parse_instance, parse_instruction_list, parse_single_instruction, parse_yes_no
from instructkit.synth.prompts import (
    CLASSIFY_EXAMPLES,
    SHORT_MAX_NEW_TOKENS,
    SHORT_REQUEST,
    classify_prompt,
    instance_prompt,
    instruction_prompt,
    short_instruction_prompt,
)
from instructkit.synth.rouge import RougePool
from instructkit.synth.rules import InstructionRules
from instructkit.synth.seeds import SeedTask

METHOD = "self-instruct"


def _classify_examples(seeds: list[SeedTask]) -> list[tuple[str, bool]]:
    """Up to 4 Yes and 4 No examples from labelled seeds; the built-in ones when there are none."""
    yes = [(s.instruction, True) for s in seeds if s.is_classification is True][:4]
    no = [(s.instruction, False) for s in seeds if s.is_classification is False][:4]
    return (
        [x for pair in zip(yes, no, strict=False) for x in pair] + yes[len(no) :] + no[len(yes) :]
        if yes and no
        else CLASSIFY_EXAMPLES
    )


class SelfInstruct:
    """One Self-Instruct run writing into a ``ShardWriter``.

    Args:
        seeds: The seed tasks (at least one).
        engine: Cached, budgeted generation.
        writer: Receives ``count_in``, ``write`` and ``reject`` per candidate.
        params: The knobs (``SynthParams``).
    """

    def __init__(self, seeds: list[SeedTask], engine: Engine, writer: Any, params: SynthParams):
        self.seeds, self.engine, self.writer, self.p = seeds, engine, writer, params
        self.rng = random.Random(params.seed)
        self.rules = InstructionRules(
            min_words=params.min_words, max_words=params.max_words, blocklist=tuple(params.blocklist)
        )
        self.pool = RougePool([s.instruction for s in seeds])
        if params.prompt_style == "short":
            self.pool.add(SHORT_REQUEST)  # a small model often echoes the request: rejected as rouge_similar
        self.machine: list[dict] = []
        self.cls_examples = _classify_examples(seeds)
        self.with_output = [s for s in seeds if s.output]
        self.accepted = self.seen = 0
        self.stats: dict[str, Any] = {
            "batches": 0,
            "replies": 0,
            "empty_replies": 0,
            "items": 0,
            "unused_items": 0,
            "unfinished": 0,
            "stopped": "num_instructions",
        }

    # --- one candidate's end ------------------------------------------------------------------

    def _reject(self, item: dict, reason: str, **details: Any) -> None:
        self.writer.count_in()
        self.seen += 1
        self.writer.reject(
            candidate_record(item["instruction"], item.get("input"), item.get("output"), item["synth"]),
            reason,
            **details,
        )

    def _keep(self, item: dict) -> None:
        rec = sft_record(item["instruction"], item["input"], item["output"], item["synth"])
        self.writer.count_in()
        self.writer.write(rec)
        self.seen += 1
        self.accepted += 1
        self.machine.append(
            {"id": rec["id"], "instruction": item["instruction"], "input": item["input"], "output": item["output"]}
        )

    # --- the loop ---------------------------------------------------------------------------

    def _examples(self) -> list[dict]:
        k_machine = min(self.p.prompt_machine_tasks, len(self.machine))
        k_seed = min(self.p.prompt_tasks - k_machine, len(self.seeds))
        chosen = [dict(s.as_example(), id=s.id) for s in self.rng.sample(self.seeds, k_seed)]
        return chosen + self.rng.sample(self.machine, k_machine)

    def run(self, progress: SynthProgress | None = None) -> dict:
        """Generate until ``num_instructions`` are accepted, the budget is spent, or ``patience`` runs out."""
        idle = 0
        try:
            while self.accepted < self.p.num_instructions:
                before = self.accepted
                self._batch()
                idle = idle + 1 if self.accepted == before else 0
                if progress:
                    progress.update(self.accepted, self.seen, self.engine.sent + self.engine.hits)
                if idle >= self.p.patience:
                    self.stats["stopped"] = "patience"
                    break
        except OutOfBudget:
            self.stats["stopped"] = "max_requests"
        self.stats.update(
            candidates=self.seen,
            accepted=self.accepted,
            acceptance_rate=round(self.accepted / self.seen, 4) if self.seen else 0.0,
        )
        return self.stats

    def _batch(self) -> None:
        p = self.p
        self.stats["batches"] += 1
        batch_no = self.stats["batches"]
        prompts, used = [], set()
        for _ in range(p.batch_size):
            for _try in range(10):  # few seeds: avoid sending the same prompt twice in a batch
                examples = self._examples()
                if (ids := tuple(e["id"] for e in examples)) not in used:
                    break
            used.add(ids)
            short = p.prompt_style == "short"
            req = self.engine.request(
                short_instruction_prompt(examples)
                if short
                else instruction_prompt(examples, p.instructions_per_request),
                "instructions",
                max_new_tokens=min(p.max_new_tokens, SHORT_MAX_NEW_TOKENS) if short else p.max_new_tokens,
                temperature=p.temperature,
                top_p=p.top_p,
                seed=p.seed + batch_no,
                system=p.system,
            )
            prompts.append((req, examples))
        replies = self.engine.run([r for r, _ in prompts])
        pending: list[dict] = []
        for (req, examples), reply in zip(prompts, replies, strict=True):
            self.stats["replies"] += 1
            if p.prompt_style == "short":
                items = parse_single_instruction(reply)
            else:
                items = parse_instruction_list(reply, start=len(examples) + 1)
            self.stats["items"] += len(items)
            if not items:
                self.stats["empty_replies"] += 1
            for it in items:
                if self.accepted + len(pending) >= p.num_instructions:
                    self.stats["unused_items"] += 1
                    continue
                synth = provenance(
                    METHOD,
                    self.engine.ident,
                    parents=[e["id"] for e in examples],
                    round=batch_no,
                    request=self.engine.key(req),
                )
                item = {"instruction": it.instruction, "input": it.input, "output": it.output, "synth": synth}
                if it.partial:
                    self._reject(item, "partial_item")
                    continue
                if verdict := self.rules.check(it.instruction):
                    self._reject(item, verdict.reason, **verdict.details)
                    continue
                score, idx = self.pool.best(it.instruction)
                if score > p.rouge_threshold:
                    self._reject(
                        item,
                        "rouge_similar",
                        value=round(score, 4),
                        threshold=p.rouge_threshold,
                        similar=self.pool.texts[idx],
                    )
                    continue
                self.pool.add(it.instruction)
                synth["rouge_max"] = round(score, 4)
                if p.instances == "inline" and it.output:
                    item["input"] = it.input or ""
                    self._keep(item)
                else:
                    pending.append(item)
        if pending:
            try:
                self._instances(pending)
            except OutOfBudget:
                self.stats["unfinished"] += sum(1 for it in pending if not it.get("done"))
                raise

    def _answers(self, pending: list[dict]) -> None:
        """``prompt_style=short``: the generator answers each instruction (greedy); the answer is the output."""
        p = self.p
        reqs = [
            self.engine.request(
                user_text(it["instruction"]),
                "answer",
                max_new_tokens=p.instance_max_new_tokens,
                temperature=0.0,
                top_p=1.0,
                seed=p.seed + self.stats["batches"],
                system=p.system,
            )
            for it in pending
        ]
        for it, req, reply in zip(pending, reqs, self.engine.run(reqs), strict=True):
            it["done"] = True
            it["synth"]["instance_request"] = self.engine.key(req)
            answer = (reply or "").strip()
            if not answer:
                self._reject(it, "no_instance", reply=reply[:300])
                continue
            it["input"], it["output"] = "", answer
            self._keep(it)

    def _instances(self, pending: list[dict]) -> None:
        """Classify each instruction, then generate its instance input-first or output-first."""
        p = self.p
        if p.prompt_style == "short":
            return self._answers(pending)
        batch_no = self.stats["batches"]
        reqs = [
            self.engine.request(
                classify_prompt(it["instruction"], self.cls_examples),
                "classify",
                max_new_tokens=8,
                temperature=0.0,
                top_p=1.0,
                seed=p.seed + batch_no,
                system=p.system,
            )
            for it in pending
        ]
        for it, answer in zip(pending, self.engine.run(reqs), strict=True):
            it["synth"]["is_classification"] = bool(parse_yes_no(answer))
        reqs = []
        for it in pending:
            cls = it["synth"]["is_classification"]
            same = [s for s in self.with_output if s.is_classification in (cls, None)] or self.with_output
            examples = self.rng.sample(same, min(p.instance_examples, len(same)))
            reqs.append(
                self.engine.request(
                    instance_prompt(it["instruction"], [s.as_example() for s in examples], output_first=cls),
                    "instance",
                    max_new_tokens=p.instance_max_new_tokens,
                    temperature=p.temperature,
                    top_p=p.top_p,
                    seed=p.seed + batch_no,
                    system=p.system,
                )
            )
        for it, req, reply in zip(pending, reqs, self.engine.run(reqs), strict=True):
            it["done"] = True
            it["synth"]["instance_request"] = self.engine.key(req)
            parsed = parse_instance(reply, output_first=it["synth"]["is_classification"])
            if parsed is None:
                self._reject(it, "no_instance", reply=reply[:300])
                continue
            it["input"], it["output"] = parsed
            if it["output"].strip() == it["input"].strip():
                self._reject(it, "output_copies_input")
                continue
            self._keep(it)
