"""Statistics and lineage of shard sets (used by ``stats`` and ``log``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from instructkit.errors import ShardError
from instructkit.shards import ShardSet


def _percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


HLL_PRECISION = 14  # 2^14 registers: 16 KB per counter, standard error 1.04 / sqrt(2^14) = 0.8%


def distinct_counters():
    """Two HyperLogLog++ counters (prompts, whole conversations): distinct counts in 16 KB each.

    Flajolet et al. 2007; Heule et al. 2013 (HLL++: 64-bit hashes, bias correction for small counts).
    Exact counting would hold a hash per distinct text (about 70 bytes each in a Python set: 7 GB for
    100M records); these stay 16 KB at any size. datasketch's implementation, with xxh64 as the hash
    (its default SHA-1 is about 5x slower here).
    """
    import xxhash
    from datasketch import HyperLogLogPlusPlus

    return tuple(HyperLogLogPlusPlus(p=HLL_PRECISION, hashfunc=xxhash.xxh64_intdigest) for _ in range(2))


def _prompt_text(rec: dict) -> str:
    msgs = rec.get("prompt")
    if msgs is None:  # sft: the turns before the first reply (system + first user message)
        msgs = []
        for m in rec.get("messages") or []:
            if m.get("role") == "assistant":
                break
            msgs.append(m)
    return "\x1e".join(f"{m.get('role')}\x1f{m.get('content')}" for m in msgs)


def set_stats(path: str | Path) -> dict[str, Any]:
    """One pass over a set: kinds, turn counts, character lengths per role, languages, distinct prompts
    and conversations (HyperLogLog estimates), funnel."""
    s = ShardSet(path)
    lengths: dict[str, list[int]] = {}
    turns: list[int] = []
    langs: Counter = Counter()
    hll_prompts, hll_records = distinct_counters()
    for rec in s:
        msgs = rec.get("messages") or (rec.get("prompt") or []) + (rec.get("chosen") or [])
        turns.append(len(msgs))
        prompt = _prompt_text(rec)
        hll_prompts.update(prompt.encode("utf-8"))
        rest = rec.get("messages") or rec.get("chosen") or rec.get("completion") or rec.get("responses") or []
        hll_records.update((prompt + "\x1d" + repr(rest)).encode("utf-8"))
        for m in msgs:
            lengths.setdefault(m.get("role", "?"), []).append(len(m.get("content") or ""))
        for r in rec.get("responses") or []:
            lengths.setdefault("response", []).append(len(r.get("content") or ""))
        lang = (rec.get("meta") or {}).get("lang")
        if lang:
            langs[lang if isinstance(lang, str) else str(lang.get("lang", lang))] += 1
    length_stats = {}
    for role, values in lengths.items():
        values.sort()
        length_stats[role] = {
            "n": len(values),
            "p5": _percentile(values, 0.05),
            "p50": _percentile(values, 0.5),
            "p95": _percentile(values, 0.95),
            "max": values[-1],
        }
    counts = s.manifest.get("counts", {})
    funnel = [("in", counts.get("in", 0))]
    for reason, n in sorted(counts.get("rejected", {}).items(), key=lambda kv: -kv[1]):
        funnel.append((f"- {reason}", n))
    for reason, n in sorted(counts.get("quarantined", {}).items(), key=lambda kv: -kv[1]):
        funnel.append((f"- quarantined: {reason}", n))
    funnel.append(("kept", counts.get("kept", len(s))))
    return {
        "path": str(s.path),
        "kind": s.kind,
        "stage": s.manifest.get("stage"),
        "records": len(s),
        "bytes": sum(p.get("bytes", 0) for p in s.manifest["parts"]),
        "fingerprint": s.fingerprint,
        "kinds": s.manifest.get("kinds", {}),
        "turns": {"mean": sum(turns) / len(turns) if turns else 0.0, "max": max(turns, default=0)},
        "distinct": {"prompts": round(hll_prompts.count()), "records": round(hll_records.count())},
        "lengths": length_stats,
        "languages": dict(langs),
        "funnel": funnel,
        "counts": counts,
        "clusters": (s.manifest.get("stats") or {}).get("cluster_sizes", {}),
    }


def lineage(path: str | Path, depth: int = 0, seen: set | None = None):
    """Yield ``(depth, entry)`` for this set and, recursively, its inputs."""
    seen = seen if seen is not None else set()
    try:
        s = ShardSet(path)
    except ShardError:
        yield depth, {"stage": "?", "path": str(path), "missing": True}
        return
    m = s.manifest
    yield (
        depth,
        {
            "stage": m.get("stage"),
            "path": str(s.path),
            "params": m.get("params"),
            "created": m.get("created"),
            "fingerprint": m.get("fingerprint"),
        },
    )
    if str(s.path) in seen:
        return
    seen.add(str(s.path))
    for inp in m.get("inputs", []):
        yield from lineage(inp["path"], depth + 1, seen)
