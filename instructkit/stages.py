"""Every stage of instructkit, declared once (see ``registry.py``).

The CLI commands, ``--config``/``--set``, recipes and the Python API are built from these
declarations. Adding a stage is one ``register_stage`` call here plus its module and test.
"""

from __future__ import annotations

from instructkit.registry import StageSpec, register_stage

register_stage(
    StageSpec(
        name="dedupe",
        params="instructkit.dedupe:DedupeParams",
        run="instructkit.dedupe:run",
        inputs="one",
        inputs_help="Input shard set (a vNNNN dir or its parent).",
        help="""Remove exact, near (MinHash LSH) and semantic duplicates; keep one record per cluster.

Removed records go to rejected/ with meta.reject = {reason, duplicate_of, similarity}; the set holds
clusters.jsonl (cluster id, kept id, members).

Memory: about 0.9 KB per input record at 128 permutations (the 512-byte signature, the id,
bookkeeping and banding temporaries), plus 4 bytes x hidden size in semantic mode. Record text is
never held: the input is read twice (three times with --verify). See docs/dedupe.md.

Example: instructkit dedupe out/ingest -o out/dedupe --mode exact,minhash --threshold 0.8

Example: instructkit dedupe out/ingest -o out/dedupe --set ngram=3 --no-fold-case
""",
    )
)
