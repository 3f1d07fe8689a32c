"""Every stage of instructkit, declared once (see ``registry.py``).

The CLI commands, ``--config``/``--set``, recipes and the Python API are built from these
declarations. Adding a stage is one ``register_stage`` call here plus its module and test.
"""

from __future__ import annotations

from instructkit.registry import Action, StageSpec, register_stage

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

register_stage(
    StageSpec(
        name="ingest",
        params="instructkit.ingest.stage:IngestParams",
        run="instructkit.ingest.stage:run",
        inputs="many",
        inputs_help="Input files, globs (quoted) or directories.",
        help="""Read instruction data in many formats into one canonical shard set.

Formats (auto-detected): alpaca, sharegpt, openai/TRL messages, LLaMA-Factory content parts,
prompt-completion, TRL preference (explicit and implicit prompt), unpaired preference, hh-rlhf, dolly,
self-instruct seeds, ultrafeedback; JSON, JSONL, CSV, Parquet or a `datasets.save_to_disk` directory,
optionally .gz/.zst.

Example: instructkit ingest 'data/samples/*.jsonl*' data/samples/alpaca.json -o out/ingest --on-error skip

Example: instructkit ingest data/samples/qa.parquet -o out/qa --map user=question --map assistant=answer
""",
    )
)

register_stage(
    StageSpec(
        name="filter",
        params="instructkit.filters.stage:FilterParams",
        run="instructkit.filters.stage:run",
        inputs="one",
        inputs_help="Input shard set (a vNNNN dir or its parent).",
        actions=(
            Action(
                "--list",
                "Print every rule with its parameters, types, defaults and help, then exit.",
                "instructkit.filters.stage:print_rules",
            ),
        ),
        help="""Apply filter rules (language, length, defects, refusal, repetition, PII, blocklist, model-based) to a shard set.

Rules come from --config (YAML: `rules: [{NAME: {PARAMS}}]`, applied in order; the first rule that
drops a record is the one counted), else the built-in default (language tagging, defects, length,
repetition, PII drop); recipes/filters.yaml is a starting point. Override one rule parameter with
--set RULE.KEY=VALUE (e.g. --set length.unit=chars, --set pii.action=mask; a rule missing from the
config is added). Every drop lands in rejected/ with the rule, the measured value and the threshold;
kept records get meta.lang.

Example: instructkit filter out/dedupe -o out/filter --config recipes/filters.yaml --lang en,zh --workers 2
""",
    )
)
