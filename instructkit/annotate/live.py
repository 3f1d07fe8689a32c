"""A small client for a running Label Studio (plain HTTP; no SDK needed).

Pushes a tasks directory into a new project and pulls a project's JSON export. The API key comes
from the environment variable ``LABEL_STUDIO_API_KEY`` and is never printed, logged or written.
A legacy token is sent as ``Authorization: Token KEY``; a personal access token (a JWT, Label Studio
1.13+) is first exchanged at ``/api/token/refresh`` for a short-lived access token (``Bearer``).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from instructkit.errors import ConfigError, InputError
from instructkit.redact import has_userinfo, join_path, redact, redact_url

ENV_KEY = "LABEL_STUDIO_API_KEY"


class LabelStudioClient:
    """Label Studio REST calls used by ``annotate-export/import --label-studio-url``.

    Args:
        url: The server, e.g. ``http://localhost:8080``.
        api_key: Defaults to ``$LABEL_STUDIO_API_KEY``.
    """

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 120.0):
        if has_userinfo(url):  # urllib would not send it, and it would be printed with the URL
            raise ConfigError(
                f"the Label Studio URL {redact_url(url)} holds user:password@",
                hint=f"remove it from the URL; the API key goes in the environment variable {ENV_KEY}",
            )
        self.url, self.shown = url.rstrip("/"), redact_url(url.rstrip("/"))
        key = api_key or os.environ.get(ENV_KEY)
        if not key:
            raise ConfigError(
                f"no Label Studio API key: set the environment variable {ENV_KEY}",
                hint="copy it from Label Studio: Account & Settings > Access Token",
            )
        self.timeout = timeout
        self._auth = f"Token {key}"
        self._secrets = [key]  # masked in every message, whatever shape a server echoes them in
        if key.count(".") == 2:  # a JWT personal access token: exchange it for an access token
            access = self._call("POST", "/api/token/refresh", {"refresh": key}, auth=None)["access"]
            self._auth = f"Bearer {access}"
            self._secrets.append(access)

    def _call(self, method: str, path: str, body=None, *, auth: str | None = "default"):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth is not None:
            headers["Authorization"] = self._auth
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(join_path(self.url, path), data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as exc:
            detail = redact(exc.read()[:4000].decode("utf-8", "replace"), self._secrets)[:300]
            hint = (
                "check LABEL_STUDIO_API_KEY (legacy tokens need LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true)"
                if exc.code == 401
                else None
            )
            where = redact_url(join_path(self.url, path))
            raise InputError(f"Label Studio {method} {where}: HTTP {exc.code}: {detail}", hint=hint) from None
        except (urllib.error.URLError, OSError) as exc:
            raise InputError(
                f"cannot reach Label Studio at {self.shown}: {redact(str(exc), self._secrets)}",
                hint="is the server running? (label-studio start)",
            ) from None
        return json.loads(raw) if raw else None

    def create_project(self, project: dict) -> int:
        return self._call("POST", "/api/projects/", project)["id"]

    def import_tasks(self, project: int, tasks: list[dict]) -> int:
        return self._call("POST", f"/api/projects/{project}/import", tasks)["task_count"]

    def push(self, tasks_dir: str | Path) -> int:
        """Create a project from ``project.json`` and import ``tasks.json``; return the project id."""
        tasks_dir = Path(tasks_dir)
        project = json.loads((tasks_dir / "project.json").read_text("utf-8"))
        tasks = json.loads((tasks_dir / "tasks.json").read_text("utf-8"))
        pid = self.create_project(project)
        self.import_tasks(pid, tasks)
        return pid

    def export(self, project: int, export_type: str = "JSON") -> list:
        """All tasks of a project with their annotations (Label Studio's quick export)."""
        return self._call("GET", f"/api/projects/{project}/export?exportType={export_type}&download_all_tasks=true")

    def pull(self, project: int, path: str | Path) -> Path:
        """Save the project's JSON export to ``path``."""
        path = Path(path)
        path.write_text(json.dumps(self.export(project), ensure_ascii=False, indent=1) + "\n", "utf-8")
        return path
