"""`instructkit dedupe`: exact, near-duplicate (MinHash LSH) and semantic deduplication."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import (
    CompressionOpt,
    ConfigOpt,
    ForceOpt,
    OutOpt,
    SetOpt,
    ShardSizeOpt,
    WorkersOpt,
    print_summary,
)


def dedupe(
    input: Annotated[Path, typer.Argument(help="Input shard set (a vNNNN dir or its parent).")],
    output: OutOpt,
    mode: Annotated[
        Optional[str],
        typer.Option(
            "--mode", "-m", help="exact, minhash, semantic, or a comma list run in that order (default exact,minhash)."
        ),
    ] = None,
    fields: Annotated[
        Optional[str],
        typer.Option("--fields", help="What is compared: prompt, response or conversation (default; all turns)."),
    ] = None,
    threshold: Annotated[
        Optional[float],
        typer.Option(
            "--threshold",
            "-t",
            help="Jaccard similarity of shingle sets at or above which records are near duplicates (default 0.8).",
        ),
    ] = None,
    num_perm: Annotated[
        Optional[int], typer.Option("--num-perm", help="MinHash permutations (default 128; 4 bytes each per record).")
    ] = None,
    ngram: Annotated[Optional[int], typer.Option("--ngram", help="Words per shingle (default 5).")] = None,
    char_ngram: Annotated[
        Optional[int],
        typer.Option(
            "--char-ngram",
            help="Characters per shingle for Chinese/Japanese text and texts under --ngram words (default 3).",
        ),
    ] = None,
    min_words: Annotated[
        Optional[int],
        typer.Option("--min-words", help="Texts with fewer words are shingled by characters (default 10)."),
    ] = None,
    bands: Annotated[
        Optional[int],
        typer.Option("--bands", help="LSH bands (default: chosen from the threshold, e.g. 16 x 8 rows at 0.8 / 128)."),
    ] = None,
    rows: Annotated[Optional[int], typer.Option("--rows", help="Rows per LSH band (with --bands).")] = None,
    verify: Annotated[
        Optional[bool],
        typer.Option(
            "--verify/--no-verify",
            help="Compute the true Jaccard "
            "similarity of candidate pairs (one more read of those records): no pair below "
            "the threshold is removed.",
        ),
    ] = None,
    keep: Annotated[
        Optional[str],
        typer.Option(
            "--keep",
            help="Survivor of each cluster: first, longest "
            "(compared text) or highest:<meta key> (e.g. highest:quality).",
        ),
    ] = None,
    against: Annotated[
        Optional[list[str]],
        typer.Option(
            "--against",
            help="Decontaminate: remove input "
            "records that duplicate a record of this set (repeatable; the set itself is not "
            "deduplicated).",
        ),
    ] = None,
    fold_case: Annotated[
        Optional[bool], typer.Option("--fold-case/--no-fold-case", help="Exact mode: ignore case (default on).")
    ] = None,
    fold_whitespace: Annotated[
        Optional[bool],
        typer.Option("--fold-whitespace/--no-fold-whitespace", help="Exact mode: collapse whitespace (default on)."),
    ] = None,
    fold_punctuation: Annotated[
        Optional[bool],
        typer.Option(
            "--fold-punctuation/--no-fold-punctuation", help="Exact mode: ignore punctuation and symbols (default on)."
        ),
    ] = None,
    model: Annotated[
        Optional[str], typer.Option("--model", help="Semantic mode: local model directory (mean-pooled hidden states).")
    ] = None,
    semantic_threshold: Annotated[
        Optional[float],
        typer.Option("--semantic-threshold", help="Semantic mode: cosine similarity threshold (default 0.95)."),
    ] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the MinHash permutations.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    workers: WorkersOpt = 1,
    shard_size: ShardSizeOpt = 100_000,
    compression: CompressionOpt = "none",
    force: ForceOpt = False,
) -> None:
    """Remove exact, near (MinHash LSH) and semantic duplicates; keep one record per cluster.

    Removed records go to rejected/ with meta.reject = {reason, duplicate_of, similarity}; the set holds clusters.jsonl (cluster id, kept id, members).

    Memory: about 0.9 KB per input record at 128 permutations (the 512-byte signature, the id, bookkeeping and banding temporaries), plus 4 bytes x hidden size in semantic mode. Record text is never held: the input is read twice (three times with --verify).

    Precedence: --config < --set < flags. YAML keys: mode, fields, threshold, num_perm, ngram, char_ngram, min_words, bands, rows, verify, keep, against, case, whitespace, punctuation, seed, model, semantic_threshold, batch_size, max_length. See docs/dedupe.md.

    Example: instructkit dedupe out/ingest -o out/dedupe --mode exact,minhash --threshold 0.8 --verify
    """
    from instructkit import config as cfg
    from instructkit.dedupe import DedupeParams, run

    values = cfg.load_yaml(config) if config else {}
    values.update(cfg.parse_sets(set_))
    flags = {
        "mode": mode,
        "fields": fields,
        "threshold": threshold,
        "num_perm": num_perm,
        "ngram": ngram,
        "char_ngram": char_ngram,
        "min_words": min_words,
        "bands": bands,
        "rows": rows,
        "verify": verify,
        "keep": keep,
        "case": fold_case,
        "whitespace": fold_whitespace,
        "punctuation": fold_punctuation,
        "model": model,
        "semantic_threshold": semantic_threshold,
        "seed": seed,
        "against": [a for item in against for a in item.split(",") if a] if against else None,
    }
    values.update({k: v for k, v in flags.items() if v is not None})
    params = cfg.build(DedupeParams, values, source=str(config) if config else None, what="dedupe")
    writer = run(
        str(input),
        str(output),
        params,
        workers=workers,
        shard_size=shard_size,
        compression=None if compression == "none" else compression,
        force=force,
    )
    st = writer.manifest.get("stats", {})
    sizes = st.get("cluster_sizes", {})
    extra = {
        "mode": ",".join(params.mode),
        "clusters": f"{st.get('dedupe', {}).get('clusters', 0):,}"
        + (f" (sizes {', '.join(f'{k}: {v}' for k, v in list(sizes.items())[:6])})" if sizes else ""),
    }
    if "bands" in st.get("dedupe", {}):
        extra["lsh"] = (
            f"{st['dedupe']['bands']} bands x {st['dedupe']['rows']} rows, "
            f"{st['dedupe']['candidate_pairs']:,} candidate pairs"
        )
    print_summary("dedupe", writer.manifest, writer.path, extra=extra)
    typer.echo(str(writer.path))
