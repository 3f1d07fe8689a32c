"""Recipes: a named list of stages run in order, with content-addressed caching.

A recipe is YAML (read with ``safe_load``)::

    name: quickstart
    workdir: demo-out
    vars: {samples: data/samples}
    stages:
      - name: ingest
        run: ingest                      # any instructkit subcommand ("model tiny" too)
        inputs: ["{vars.samples}/alpaca.json"]
        output: "{workdir}/ingest"
        params: {on_error: skip}        # the stage's Params field names (on-error is the same key)
      - name: dedupe
        run: dedupe
        inputs: ["{stages.ingest}"]      # the output of an earlier stage
        output: "{workdir}/dedupe"
        params: {config: dedupe.yaml, threshold: 0.7}   # config: a --config file; params override it

Stages run through the stage registry (``registry.run_stage``), with the same params, precedence and
validation as the command line and the Python API: data stages in this process, training stages
(``isolate``) in a child process built from the same declaration (``instructkit.child``), in its own
process group, that dies with this one. A stage's cache key is a sha256 over the stage, its params and
the *content* fingerprints of its inputs (a shard set's fingerprint, a file's sha256, an earlier
stage's key), so a stage whose inputs and params are unchanged is skipped, and a change re-runs that
stage and whatever its change reaches downstream.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from instructkit import registry
from instructkit.errors import ConfigError, InstructkitError, ShardError
from instructkit.recipe_load import _REF, ALIASES, Recipe, Stage, load_recipe  # noqa: F401 (re-exported)

STATE_FILE = ".instructkit-run.json"


# --- fingerprints and keys -------------------------------------------------------------------


def _sha_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def fingerprint(path: str, keys: dict[str, str]) -> str:
    """Content fingerprint of an input: an earlier stage's key, a shard set, a file, or a directory."""
    if path in keys:
        return keys[path]
    from instructkit.shards import ShardSet

    p = Path(path)
    try:
        return "set:" + ShardSet(p).fingerprint
    except ShardError:
        pass
    if p.is_file():
        return "file:" + _sha_file(p)
    if p.is_dir():
        sha = hashlib.sha256()
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            sha.update(f"{f.relative_to(p)}:{_sha_file(f)}\n".encode())
        return "dir:" + sha.hexdigest()
    matches = sorted(glob.glob(path))
    if matches:
        return "glob:" + hashlib.sha256("".join(fingerprint(m, keys) for m in matches).encode()).hexdigest()
    raise InstructkitError(f"input {path!r} does not exist", hint="check the path, or the stage that should write it")


def _refs(stage: Stage) -> set[str]:
    """Names of the earlier stages this stage's inputs, params or output refer to."""
    texts = [*stage.inputs, stage.output]
    for value in stage.params.values():
        texts.extend(value if isinstance(value, list) else [value])
    return {
        m.group(1)[7:]
        for t in texts
        if isinstance(t, str)
        for m in _REF.finditer(t)
        if m.group(1).startswith("stages.")
    }


class Runner:
    """Plans and runs a recipe; remembers stage keys and outputs in ``WORKDIR/.instructkit-run.json``."""

    def __init__(self, recipe: Recipe, *, log=print, on_result=None):
        self.recipe = recipe
        self.log = log
        self.on_result = on_result  # called with (spec, Result) after each stage that ran (the CLI prints it)
        self.workdir = Path(self._subst(recipe.workdir, {}))
        self.state_path = self.workdir / STATE_FILE
        self.state: dict[str, dict] = {}
        if self.state_path.is_file():
            try:
                self.state = json.loads(self.state_path.read_text())
            except ValueError:
                self.state = {}

    def _subst(self, text: str, outputs: dict[str, str]) -> str:
        def repl(m: re.Match) -> str:
            ref = m.group(1)
            if ref == "workdir":
                return str(self.workdir)
            if ref.startswith("vars."):
                name = ref[5:]
                if name not in self.recipe.vars:
                    raise ConfigError(
                        f"{{{ref}}}: no such var",
                        file=str(self.recipe.path),
                        hint=f"vars: {', '.join(self.recipe.vars) or '(none)'}",
                    )
                return str(self.recipe.vars[name])
            if ref.startswith("stages."):
                name = ref[7:]
                if name not in outputs:
                    raise ConfigError(
                        f"{{{ref}}}: no earlier stage of that name has an output",
                        file=str(self.recipe.path),
                        hint="stages can only use outputs of stages above them",
                    )
                return outputs[name]
            raise ConfigError(
                f"unknown reference {{{ref}}}",
                file=str(self.recipe.path),
                hint="use {workdir}, {vars.NAME} or {stages.NAME}",
            )

        return _REF.sub(repl, text)

    def _resolve(self, value: Any, outputs: dict[str, str]) -> Any:
        if isinstance(value, str):
            return self._subst(value, outputs)
        if isinstance(value, list):
            return [self._resolve(v, outputs) for v in value]
        return value

    def _key(self, stage: Stage, inputs: list[str], params: dict, keys: dict[str, str]) -> str:
        def fp_value(v: Any) -> Any:
            if isinstance(v, list):
                return [fp_value(x) for x in v]
            if isinstance(v, str) and (v in keys or os.path.exists(v)):
                return fingerprint(v, keys)
            return v

        blob = json.dumps(
            {
                "run": stage.run,
                "inputs": [fingerprint(i, keys) for i in inputs],
                "params": {k: fp_value(v) for k, v in sorted(params.items())},
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def _done(self, stage: Stage, key: str) -> str | None:
        entry = self.state.get(stage.name)
        if entry and entry.get("key") == key and Path(entry["output"]).exists():
            return entry["output"]
        return None

    def execute(self, *, dry_run: bool = False, from_stage: str | None = None, only: str | None = None) -> list[dict]:
        """Run (or plan) every stage; return one row per stage: name, status, output, seconds."""
        names = [s.name for s in self.recipe.stages]
        for flag, value in (("--from", from_stage), ("--only", only)):
            if value and value not in names:
                raise ConfigError(f"{flag} {value!r}: no such stage", hint=f"stages: {', '.join(names)}")
        start = names.index(from_stage) if from_stage else 0
        outputs: dict[str, str] = {}
        keys: dict[str, str] = {}  # output path -> content key of the stage that wrote it
        rows = []
        pending: set[str] = set()  # a dry run cannot know the keys of stages downstream of one that would run
        last = names.index(only) if only else len(names) - 1
        for i, stage in enumerate(self.recipe.stages[: last + 1]):
            selected = (only is None and i >= start) or only == stage.name
            forced = bool(from_stage or only) and selected
            inputs: list[str] = []
            for raw in stage.inputs:
                resolved = self._subst(raw, outputs)
                inputs.extend(sorted(glob.glob(resolved)) if any(c in resolved for c in "*?[") else [resolved])
            params = {k: self._resolve(v, outputs) for k, v in stage.params.items()}
            base_output = self._subst(stage.output, outputs)
            if _refs(stage) & pending:
                pending.add(stage.name)
                rows.append({"stage": stage.name, "status": "would run (upstream changes)", "output": base_output})
                outputs[stage.name] = base_output
                continue
            key = self._key(stage, inputs, params, keys)
            done = self._done(stage, key)
            if not selected:
                if done is None:
                    raise InstructkitError(
                        f"stage {stage.name!r} has no finished output to start after",
                        hint=f"run it first: instructkit run {self.recipe.path} --only {stage.name}",
                    )
                status, out_path = "not selected", done
            elif done is not None and not forced:
                status, out_path = "skipped (cached)", done
            elif dry_run:
                status, out_path = "would run", base_output
                pending.add(stage.name)
            else:
                out_path, seconds = self._run_stage(stage, inputs, params, base_output, key)
                status = f"ran ({seconds:.1f}s)"
            outputs[stage.name] = out_path
            keys[out_path] = key
            rows.append({"stage": stage.name, "status": status, "output": out_path})
        return rows

    def _run_stage(
        self, stage: Stage, inputs: list[str], params: dict, base_output: str, key: str
    ) -> tuple[str, float]:
        spec = registry.get(stage.run)
        output = base_output if spec.output == "set" else str(Path(base_output) / key[:12])
        if spec.output == "dir" and Path(output).exists():
            import shutil

            shutil.rmtree(output)  # a forced re-run of the same key: the old one is identical by content
        flags = dict(params)
        config = flags.pop("config", None)
        if spec.output == "dir" and Path(output + ".partial").exists() and "resume" in _fields(spec, flags):
            flags["resume"] = True  # an earlier run of this very stage crashed after a checkpoint
        child = spec.isolate and (self.recipe.isolate or stage.launcher is not None)
        where = "child process" if child else "in process"
        self.log(f"[{stage.name}] {spec.name} {' '.join(inputs)} -> {output} ({where})")
        started = time.time()
        try:
            if child:
                from instructkit.child import run_in_child

                result = run_in_child(spec.name, inputs, output, config=config, flags=flags, launcher=stage.launcher)
            else:
                result = registry.run_stage(spec.name, inputs, output, config=config, flags=flags)
        except InstructkitError as exc:
            raise InstructkitError(
                f"stage {stage.name!r} failed: {exc}; earlier outputs are kept",
                file=str(self.recipe.path),
                line=stage.line,
                hint=f"fix it and re-run: instructkit run {self.recipe.path} (finished stages are skipped)",
            ) from None
        seconds = time.time() - started
        if self.on_result is not None:
            self.on_result(spec, result)
        output = str(result.path)
        self.state[stage.name] = {
            "key": key,
            "output": output,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seconds": round(seconds, 2),
            "stage": spec.name,
            "inputs": inputs,
            "params": params,
        }
        self._save_state()
        return output, seconds

    def _save_state(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2) + "\n")
        os.replace(tmp, self.state_path)


def _fields(spec: registry.StageSpec, values: dict) -> set[str]:
    return {f.name for f in dataclasses.fields(spec.params_class(values))}
