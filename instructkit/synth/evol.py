"""Evol-Instruct (Xu et al. 2023, WizardLM): make instructions harder, round by round.

Each round takes every instruction of the pool (the seeds in round 1), draws one operation uniformly
from ``evol_ops`` (in-depth: add constraints, deepen, concretise, increase reasoning steps, complicate
the input; in-breadth: a new, rarer instruction of the same domain), asks the generator to evolve it,
then applies the paper's elimination (section 3.3), cheapest first:

1. ``copied_prompt_words``: the evolution copies words of the evolving prompt ("#Rewritten Prompt#",
   "given prompt", ...); ``empty_evolution`` when nothing came back;
2. ``no_information_gain``: the evolution adds nothing to its parent: the generator answers WizardLM's
   equality question (``judge=generator``, one request), or ROUGE-L F with the parent is at least
   ``similarity_threshold`` (``judge=similarity``); an unchanged text fails without a request;
3. the generator answers the evolved instruction; ``sorry_short``: the answer contains "sorry" and
   is under 80 words; ``stopwords_only``: it holds only punctuation and stop words.

A survivor becomes an ``sft`` record (evolved instruction -> answer) and joins the next round's pool;
a failed evolution is kept in ``rejected/`` with its reason and its parent stays in the pool, so it is
evolved again next round. The seeds themselves are not written: merge them in if you want them.
"""

from __future__ import annotations

import random
from typing import Any

from instructkit.synth.common import SynthParams, SynthProgress, candidate_record, provenance, sft_record
from instructkit.synth.engine import Engine, OutOfBudget
from instructkit.synth.parse import parse_equal
from instructkit.synth.prompts import equal_prompt, evol_prompt
from instructkit.synth.rouge import rouge_l
from instructkit.synth.rules import copied_prompt_words, sorry_short, stopwords_only
from instructkit.synth.seeds import SeedTask

METHOD = "evol"


class EvolInstruct:
    """One Evol-Instruct run writing into a ``ShardWriter`` (arguments as ``SelfInstruct``)."""

    def __init__(self, seeds: list[SeedTask], engine: Engine, writer: Any, params: SynthParams):
        self.engine, self.writer, self.p = engine, writer, params
        self.rng = random.Random(params.seed)
        self.pool = [{"id": s.id, "instruction": s.instruction} for s in seeds]
        self.accepted = self.seen = self.batches = 0
        self.stats: dict[str, Any] = {
            "rounds_done": 0,
            "judge_unclear": 0,
            "unfinished": 0,
            "ops": {},
            "stopped": "rounds",
        }

    def _end(self, cand: dict, reason: str | None, **details: Any) -> None:
        self.writer.count_in()
        self.seen += 1
        if reason is None:
            rec = sft_record(cand["text"], "", cand["response"], cand["synth"])
            self.writer.write(rec)
            self.accepted += 1
            cand["child"] = {"id": rec["id"], "instruction": cand["text"]}
        else:
            self.writer.reject(
                candidate_record(cand["text"], "", cand.get("response"), cand["synth"]), reason, **details
            )

    def run(self, progress: SynthProgress | None = None) -> dict:
        """Evolve for ``rounds`` rounds, or until ``num_instructions`` are accepted or the budget is spent."""
        try:
            for round_no in range(1, self.p.rounds + 1):
                next_pool: list[dict] = []
                for start in range(0, len(self.pool), self.p.batch_size):
                    if self.accepted >= self.p.num_instructions:
                        break
                    batch = self.pool[start : start + self.p.batch_size]
                    batch = batch[: self.p.num_instructions - self.accepted]
                    next_pool += self._batch(batch, round_no)
                    if progress:
                        progress.update(self.accepted, self.seen, self.engine.sent + self.engine.hits)
                self.stats["rounds_done"] = round_no
                self.pool = next_pool
                if self.accepted >= self.p.num_instructions:
                    self.stats["stopped"] = "num_instructions"
                    break
        except OutOfBudget:
            self.stats["stopped"] = "max_requests"
        self.stats.update(
            candidates=self.seen,
            accepted=self.accepted,
            acceptance_rate=round(self.accepted / self.seen, 4) if self.seen else 0.0,
        )
        return self.stats

    def _batch(self, batch: list[dict], round_no: int) -> list[dict]:
        p, eng = self.p, self.engine
        self.batches += 1
        seed = p.seed + self.batches  # one sampling seed per batch, as in self-instruct
        cands = []
        for parent in batch:
            op = self.rng.choice(p.evol_ops)
            self.stats["ops"][op] = self.stats["ops"].get(op, 0) + 1
            req = eng.request(
                evol_prompt(op, parent["instruction"]),
                "evolve",
                max_new_tokens=p.evol_max_new_tokens,
                temperature=p.temperature,
                top_p=p.top_p,
                seed=seed,
                system=p.system,
            )
            cands.append(
                {
                    "parent": parent,
                    "req": req,
                    "synth": provenance(
                        METHOD, eng.ident, parents=[parent["id"]], round=round_no, request=eng.key(req), op=op
                    ),
                }
            )
        try:
            return self._finish(cands, seed)
        except OutOfBudget:
            self.stats["unfinished"] += sum(1 for c in cands if "done" not in c)
            raise

    def _finish(self, cands: list[dict], seed: int) -> list[dict]:
        p, eng = self.p, self.engine
        for c, text in zip(cands, eng.run([c["req"] for c in cands]), strict=True):
            c["text"] = (text or "").strip()
        live = []
        for c in cands:
            if not c["text"]:
                c["fail"] = ("empty_evolution", {})
            elif verdict := copied_prompt_words(c["text"]):
                c["fail"] = (verdict.reason, verdict.details)
            elif " ".join(c["text"].split()) == " ".join(c["parent"]["instruction"].split()):
                c["fail"] = ("no_information_gain", {"judge": "identical"})
            elif p.judge == "similarity":
                score = rouge_l(c["parent"]["instruction"], c["text"])
                if score >= p.similarity_threshold:
                    c["fail"] = (
                        "no_information_gain",
                        {"judge": "similarity", "value": round(score, 4), "threshold": p.similarity_threshold},
                    )
                else:
                    live.append(c)
            else:
                live.append(c)
        if p.judge == "generator" and live:
            reqs = [
                eng.request(
                    equal_prompt(c["parent"]["instruction"], c["text"]),
                    "judge",
                    max_new_tokens=8,
                    temperature=0.0,
                    top_p=1.0,
                    seed=seed,
                    system=p.system,
                )
                for c in live
            ]
            for c, answer in zip(live, eng.run(reqs), strict=True):
                equal = parse_equal(answer)
                if equal is None:
                    self.stats["judge_unclear"] += 1
                if equal:
                    c["fail"] = ("no_information_gain", {"judge": "generator", "value": answer.strip()[:100]})
            live = [c for c in live if "fail" not in c]
        if live:
            reqs = [
                eng.request(
                    c["text"],
                    "respond",
                    max_new_tokens=p.response_max_new_tokens,
                    temperature=p.response_temperature,
                    top_p=p.top_p,
                    seed=seed,
                    system=p.system,
                )
                for c in live
            ]
            for c, req, answer in zip(live, reqs, eng.run(reqs), strict=True):
                c["response"] = (answer or "").strip()
                c["synth"]["response_request"] = eng.key(req)
                verdict = sorry_short(c["response"], p.sorry_max_words) or stopwords_only(c["response"])
                if verdict:
                    c["fail"] = (verdict.reason, verdict.details)
        next_pool = []
        for c in cands:
            c["done"] = True
            if "fail" in c:
                self._end(c, c["fail"][0], **c["fail"][1])
                next_pool.append(c["parent"])
            else:
                self._end(c, None)
                next_pool.append(c["child"])
        return next_pool
