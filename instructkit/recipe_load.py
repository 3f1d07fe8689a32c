"""Recipe files: parsing and validation, with errors that name the recipe line (split out of ``recipe.py``).

``load_recipe`` reads the YAML (``safe_load``), applies ``--set`` overrides, checks every key (recipe,
stage, and each stage's params against its Params fields) before anything runs, and returns a
``Recipe`` of ``Stage``s for ``recipe.Runner``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from instructkit import registry
from instructkit.errors import ConfigError, InstructkitError

RECIPE_KEYS = ("name", "description", "workdir", "vars", "isolate", "stages")
STAGE_KEYS = ("name", "run", "inputs", "output", "params", "launcher")

# ``run: model tiny`` (the CLI spelling) is the registered "model" stage with name=tiny.
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {"model tiny": ("model", {"name": "tiny"})}
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
    # Training and eval stages in a child process (the default: memory goes back to the OS after each);
    # false runs them in the runner's process, which saves each one the child's imports (torch,
    # transformers, peft, trl: 10-15 s on a small CPU) for small models that fit together.
    isolate: bool = True


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
    """Apply ``--set``: ``workdir=x``, ``isolate=false``, ``vars.NAME=x`` or ``STAGE.PARAM=x``."""
    head, _, rest = key.partition(".")
    if head in ("workdir", "name", "isolate") and not rest:
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
    isolate = data.get("isolate", True)
    if not isinstance(isolate, bool):
        raise ConfigError(
            f"isolate must be true or false, got {isolate!r}",
            file=src,
            line=lines.get(("isolate",)),
            hint="isolate: false runs training stages in the runner's process",
        )
    return Recipe(
        str(data.get("name", path.stem)),
        path,
        str(data.get("workdir", "out")),
        dict(data.get("vars") or {}),
        stages,
        isolate,
    )
