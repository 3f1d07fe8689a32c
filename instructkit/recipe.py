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

RECIPE_KEYS = ("name", "description", "workdir", "vars", "stages")
STAGE_KEYS = ("name", "run", "inputs", "output", "params", "launcher")

# ``run: model tiny`` (the CLI spelling) is the registered "model" stage with name=tiny.
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {"model tiny": ("model", {"name": "tiny"})}
STATE_FILE = ".instructkit-run.json"
_REF = re.compile(r"\{([A-Za-z_][\w.\-]*)\}")


@dataclasses.dataclass
class Stage:
    name: str
    run: str
    inputs: list[str]
    output: str
    params: dict[str, Any]
    line: int | None = None
    launcher: dict[str, Any] | None = None  # launchers.parse(): accelerate or torchrun, training stages only


@dataclasses.dataclass
class Recipe:
    name: str
    path: Path
    workdir: str
    vars: dict[str, Any]
    stages: list[Stage]


# --- parsing ---------------------------------------------------------------------------------


def _lines(text: str) -> dict[tuple, int]:
    """1-based line of every mapping key, addressed by its path (("stages", 2, "run"))."""
    import yaml

    out: dict[tuple, int] = {}

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                out[path + (k.value,)] = k.start_mark.line + 1
                walk(v, path + (k.value,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out[path + (i,)] = item.start_mark.line + 1
                walk(item, path + (i,))

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), ())
    except yaml.YAMLError:
        pass
    return out


def _set_override(data: dict, key: str, value: Any, source: str) -> None:
    """Apply ``--set``: ``workdir=x``, ``vars.NAME=x`` or ``STAGE.PARAM=x``."""
    head, _, rest = key.partition(".")
    if head in ("workdir", "name") and not rest:
        data[head] = value
    elif head == "vars" and rest:
        data.setdefault("vars", {})[rest] = value
    else:
        for stage in data.get("stages") or []:
            if isinstance(stage, dict) and stage.get("name") == head and rest:
                if rest in ("output", "run"):
                    stage[rest] = value
                elif rest == "inputs":
                    stage["inputs"] = value if isinstance(value, list) else [value]
                elif rest == "launcher" or rest.startswith("launcher."):  # STAGE.launcher.machine_rank=1
                    if rest == "launcher":
                        stage["launcher"] = value
                    else:
                        current = stage.get("launcher")
                        launcher = {"kind": current} if isinstance(current, str) else dict(current or {})
                        launcher[rest.split(".", 1)[1]] = value
                        stage["launcher"] = launcher
                else:
                    stage.setdefault("params", {})[rest] = value
                return
        names = [s.get("name") for s in data.get("stages") or [] if isinstance(s, dict)]
        raise ConfigError(
            f"--set {key}: no such recipe key or stage",
            file=source,
            hint=f"use workdir=..., vars.NAME=... or STAGE.PARAM=... with a stage of: {', '.join(names)}",
        )


def _check_keys(spec: registry.StageSpec, params: dict, src: str, line: int | None, name: str) -> None:
    """Unknown param keys fail at load time (before any stage runs), naming the recipe line."""
    try:
        cls = spec.params_class({k: v for k, v in params.items() if not _has_ref(v)})
    except InstructkitError:
        cls = spec.params_class()
    valid = {f.name for f in dataclasses.fields(cls)} | {"config"}
    for key in params:
        if key not in valid:
            raise ConfigError(
                f"stage {name!r}: unknown param {key!r} for {spec.name}",
                file=src,
                line=line,
                hint=f"valid keys: {', '.join(sorted(valid))} (see instructkit {spec.name} --list-params)",
            )


def _has_ref(value: Any) -> bool:
    return isinstance(value, str) and bool(_REF.search(value))


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Parse and validate a recipe; errors name the recipe line and list the valid keys."""
    from instructkit.config import load_yaml

    path = Path(path)
    data = load_yaml(path)
    lines = _lines(path.read_text("utf-8"))
    src = str(path)
    for key in data:
        if key not in RECIPE_KEYS:
            raise ConfigError(
                f"unknown recipe key {key!r}",
                file=src,
                line=lines.get((key,)),
                hint=f"valid keys: {', '.join(RECIPE_KEYS)}",
            )
    for key, value in (overrides or {}).items():
        _set_override(data, key, value, src)
    stages_raw = data.get("stages")
    if not isinstance(stages_raw, list) or not stages_raw:
        raise ConfigError("a recipe needs a non-empty 'stages' list", file=src, line=lines.get(("stages",)))
    stages, seen = [], set()
    for i, raw in enumerate(stages_raw):
        line = lines.get(("stages", i))
        if not isinstance(raw, dict):
            raise ConfigError(f"stage {i + 1} must be a mapping", file=src, line=line)
        for key in raw:
            if key not in STAGE_KEYS:
                raise ConfigError(
                    f"unknown stage key {key!r}",
                    file=src,
                    line=lines.get(("stages", i, key), line),
                    hint=f"valid keys: {', '.join(STAGE_KEYS)}",
                )
        for key in ("name", "run", "output"):
            if not raw.get(key):
                raise ConfigError(
                    f"stage {i + 1} has no {key!r}",
                    file=src,
                    line=line,
                    hint="a stage needs: name, run, output (and usually inputs, params)",
                )
        name = str(raw["name"])
        if name in seen:
            raise ConfigError(f"two stages are named {name!r}", file=src, line=line)
        seen.add(name)
        run_name, implied = ALIASES.get(str(raw["run"]), (str(raw["run"]), {}))
        known = registry.stages()
        if run_name not in known:
            raise ConfigError(
                f"stage {name!r}: unknown stage {raw['run']!r}",
                file=src,
                line=lines.get(("stages", i, "run"), line),
                hint=f"stages: {', '.join(known)}",
            )
        inputs = raw.get("inputs") or []
        if isinstance(inputs, str):
            inputs = [inputs]
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            raise ConfigError(f"stage {name!r}: 'params' must be a mapping", file=src, line=line)
        params = {**implied, **registry.normalize_keys(params)}
        _check_keys(known[run_name], params, src, lines.get(("stages", i, "params"), line), name)
        from instructkit import launchers

        try:
            launcher = launchers.parse(raw.get("launcher"))
        except ConfigError as exc:
            raise ConfigError(f"stage {name!r}: {exc.message}", file=src, line=line, hint=exc.hint) from None
        if launcher is not None and not known[run_name].isolate:
            raise ConfigError(
                f"stage {name!r}: a launcher runs training stages only, not {run_name!r}",
                file=src,
                line=line,
                hint="data stages scale with --workers or executor: ray",
            )
        stage = Stage(name, run_name, [str(x) for x in inputs], str(raw["output"]), params, line, launcher)
        stages.append(stage)
    return Recipe(
        str(data.get("name", path.stem)), path, str(data.get("workdir", "out")), dict(data.get("vars") or {}), stages
    )


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
        where = "child process" if spec.isolate else "in process"
        self.log(f"[{stage.name}] {spec.name} {' '.join(inputs)} -> {output} ({where})")
        started = time.time()
        try:
            if spec.isolate:
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
