"""The quality stage's per-record work as tasks over chunks of raw lines, merged in the driver.

``analyse_chunk`` parses one chunk (``executors.line_chunks``) and does everything that looks at one
record at a time: the record's ``Item`` (texts, normalised prompt, answer digests), its clarity defects,
the distinct-n n-gram hashes of instructions and responses, root verb and object counts, gold-answer
matches and the instructions' MinHash signatures. It runs in this process (``--workers 1``), in local
processes (``--workers N``) or as Ray tasks (``--executor ray``), through ``executors.ordered_map``,
which hands results back in input order.

``Merged`` adds the chunks up in that order. Every merge gives what one pass over the set gives:
items and signatures are concatenated, counts summed, distinct n-gram hashes unioned, clarity
examples are the first ids of the set, and Counters keep first-occurrence order (which breaks ties
in the verb table). The set-wide measures (near-duplicate banding, consistency groups, reference
matching, embeddings and the reward model) then run in the driver on the merged result, so
quality.json is the same on every executor and for any number of workers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from instructkit.quality.accuracy import gold_counts
from instructkit.quality.clarity import Clarity
from instructkit.quality.common import Item, item_of
from instructkit.quality.diversity import NGrams, signatures, verb_counts

CHUNK = 2048  # records per task (executors.CHUNK); the tests make it small to merge many chunks


@dataclass
class ChunkResult:
    """What one chunk's task sends back (about 1.5 KB per record, most of it texts and the signature)."""

    items: list[Item]
    clarity: Clarity
    grams: dict[str, NGrams]
    verbs: tuple[Counter, Counter]
    gold: tuple[int, int, int]
    sigs: np.ndarray


def analyse_chunk(task: tuple[str | None, list[tuple[str, int, bytes]]]) -> ChunkResult:
    """The per-record analyses of one chunk ``(gold_field, lines)``; a corrupt line raises ShardError."""
    from instructkit.executors import parse_chunk

    gold_field, chunk = task
    records = parse_chunk(chunk)
    items, clarity = [], Clarity()
    for record in records:
        item = item_of(record, gold_field=gold_field)
        items.append(item)
        clarity.add(record, item.instruction)
    instructions = [it.instruction for it in items]
    grams = {"instructions": NGrams(), "responses": NGrams()}
    grams["instructions"].add(instructions)
    grams["responses"].add([it.response for it in items])
    return ChunkResult(
        items=items,
        clarity=clarity,
        grams=grams,
        verbs=verb_counts(instructions),
        gold=gold_counts(items),
        sigs=signatures(instructions),
    )


class Merged:
    """The chunk results of one set, added up in input order."""

    def __init__(self):
        self.items: list[Item] = []
        self.clarity = Clarity()
        self.grams = {"instructions": NGrams(), "responses": NGrams()}
        self.verbs: tuple[Counter, Counter] = (Counter(), Counter())
        self.gold = (0, 0, 0)
        self._sigs: list[np.ndarray] = []

    def add(self, part: ChunkResult) -> None:
        self.items.extend(part.items)
        self.clarity.merge(part.clarity)
        for name, grams in self.grams.items():
            grams.merge(part.grams[name])
        for mine, theirs in zip(self.verbs, part.verbs, strict=True):
            mine.update(theirs)
        self.gold = tuple(a + b for a, b in zip(self.gold, part.gold, strict=True))  # type: ignore[assignment]
        self._sigs.append(part.sigs)

    @property
    def sigs(self) -> np.ndarray | None:
        """Every record's signature in input order (None for an empty set)."""
        if len(self._sigs) > 1:
            self._sigs = [np.concatenate(self._sigs)]
        return self._sigs[0] if self._sigs else None


def merged(data, p) -> Merged:
    """``analyse_chunk`` over every chunk of the shard set ``data`` on ``p``'s executor, merged in order."""
    from instructkit.executors import line_chunks, ordered_map
    from instructkit.stage import progress_bar

    out = Merged()
    tasks = ((p.gold_field, chunk) for _, chunk in line_chunks([data], CHUNK))
    with progress_bar("quality", len(data)) as advance:
        for part in ordered_map(analyse_chunk, tasks, executor=p.executor, workers=p.workers, address=p.ray_address):
            out.add(part)
            advance(len(part.items))
    return out
