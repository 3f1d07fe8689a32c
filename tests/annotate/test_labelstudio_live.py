"""The round trip through a real Label Studio server (installed by ``make labelstudio``).

Skipped, with the reason, when ``INSTRUCTKIT_LABEL_STUDIO`` does not name the ``label-studio``
executable (``make test`` sets it). What the real server does, checked here:

- annotations of other people: the owner creates users (``POST /api/users/``) and posts each
  annotation with ``completed_by=<user id>``; the JSON export then names that user id;
- Label Studio stores an invalid value (``{"selected": "middle"}``) without complaint: our import
  refuses it, or quarantines it with ``--on-error skip``;
- every template's config is accepted by the server's config validation (project creation).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from annotate_fixtures import better, feedback_set, pw, worse
from labelstudio_server import LabelStudioServer

from instructkit.annotate.agreement import fleiss_kappa
from instructkit.annotate.templates import TEMPLATES, build
from instructkit.shards import ShardSet

EXE = os.environ.get("INSTRUCTKIT_LABEL_STUDIO", "")

pytestmark = pytest.mark.skipif(
    not (EXE and Path(EXE).is_file()),
    reason=f"Label Studio not installed (INSTRUCTKIT_LABEL_STUDIO={EXE!r} is not a file): run 'make labelstudio', "
    "then INSTRUCTKIT_LABEL_STUDIO=$PWD/.venv-labelstudio/bin/label-studio pytest tests/annotate/test_labelstudio_live.py",
)


@pytest.fixture(scope="module")
def server():
    ls = LabelStudioServer(EXE)
    try:
        ls.start()
        yield ls
    finally:
        ls.stop()  # os.killpg on the server's whole process group


def test_every_template_config_is_accepted_and_values_are_not_checked(server):
    ids = {}
    for name in TEMPLATES:
        t = build(name, ["helpfulness", "harmlessness"] if name == "rating" else None)
        ids[name] = server.api("POST", "/api/projects/", {"title": f"config {name}", "label_config": t.config})["id"]
    # the rating project stores a rating of 9 on a 1-5 scale and a control its config does not have
    pid = ids["rating"]
    server.api("POST", f"/api/projects/{pid}/import", [{"data": {"prompt": "q", "response": "a"}}])
    (task,) = server.api("GET", f"/api/tasks/?project={pid}")["tasks"]
    result = [
        {"from_name": "helpfulness", "to_name": "response", "type": "rating", "value": {"rating": 9}},
        {"from_name": "style", "to_name": "response", "type": "rating", "value": {"rating": 2}},
    ]
    stored = server.api("POST", f"/api/tasks/{task['id']}/annotations/", {"result": result})
    assert [r["value"]["rating"] for r in stored["result"]] == [9, 2]


def test_round_trip_through_real_server(server, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", server.token)
    tasks_dir = tmp_path / "tasks"
    r = cli(
        "annotate-export",
        feedback_set(tmp_path),
        "-o",
        tasks_dir,
        "--template",
        "pairwise",
        "--overlap",
        "3",
        "--label-studio-url",
        server.url,
    )
    project = int(re.search(r"projects/(\d+)", r.output).group(1))
    assert server.token not in r.output and server.token not in (tasks_dir / "export_manifest.json").read_text()
    users = [
        server.api("POST", "/api/users/", {"email": f"ann{k}@example.com", "username": f"ann{k}"})["id"]
        for k in (1, 2, 3)
    ]
    tasks = server.api("GET", f"/api/tasks/?project={project}&page_size=100")["tasks"]
    assert len(tasks) == 10 and all(t["overlap"] == 3 for t in tasks)
    posted: dict[int, dict[int, str]] = {}  # task id -> {user: side}
    for t in tasks:
        d = t["data"]
        for k, user in enumerate(users):
            # the third annotator picks the worse response on item B ("Blue." vs "Table.")
            side = worse(d) if k == 2 and "Blue." in (d["left"], d["right"]) else better(d)
            server.api(
                "POST",
                f"/api/tasks/{t['id']}/annotations/",
                {"result": pw(side), "completed_by": user, "lead_time": 4.5 + k},
            )
            posted.setdefault(t["id"], {})[user] = side
    # a skipped task and a value the config does not allow: the server stores both
    server.api(
        "POST",
        f"/api/tasks/{tasks[0]['id']}/annotations/",
        {"result": [], "was_cancelled": True, "completed_by": users[1]},
    )
    bad = server.api("POST", f"/api/tasks/{tasks[1]['id']}/annotations/", {"result": pw("middle")})
    assert bad["result"][0]["value"] == {"selected": "middle"}

    out = tmp_path / "out"
    r = cli(
        "annotate-import",
        "--label-studio-url",
        server.url,
        "--project",
        project,
        "--tasks",
        tasks_dir,
        "-o",
        out,
        ok=False,
    )
    assert r.exit_code == 2 and "'left' or 'right'" in r.output and f"task {tasks[1]['id']}" in r.output
    r = cli(
        "annotate-import",
        "--label-studio-url",
        server.url,
        "--project",
        project,
        "--tasks",
        tasks_dir,
        "-o",
        out,
        "--on-error",
        "skip",
    )
    export = json.loads((out / f"export-project-{project}.json").read_text())
    assert {a["completed_by"] for t in export for a in t["annotations"]} >= set(users)

    fb = ShardSet(out / "feedback")
    assert fb.manifest["counts"]["quarantined"] == {"bad value": 1}
    agreement = json.loads((out / "agreement.json").read_text())
    assert agreement["annotations"]["cancelled"] == 1 and agreement["annotations"]["judgments kept"] == 30
    prefs = {p["prompt"][0]["content"]: p for p in ShardSet(out / "preference")}
    pairs = {q: (p["chosen"][0]["content"], p["rejected"][0]["content"]) for q, p in prefs.items()}
    assert pairs == {"What is 2 + 2?": ("4", "5"), "Name a colour.": ("Blue.", "Table."), "Say hi.": ("Hi!", "hi")}
    assert prefs["Name a colour."]["meta"]["annotate"]["margin"] == pytest.approx(1 / 3, abs=1e-4)
    # agreement figures from what we posted: Fleiss' kappa over the sides chosen per task
    table = [[Counter(v.values())["left"], Counter(v.values())["right"]] for v in posted.values()]
    assert agreement["agreement"]["winner"]["fleiss_kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-4)
    assert agreement["agreement"]["winner"]["percent_agreement"] == pytest.approx((9 + 1 / 3) / 10, abs=1e-4)
    assert set(agreement["annotators"]) == {str(u) for u in users}

    # the JSON-MIN export of the same project gives the same pairs
    rows = server.api("GET", f"/api/projects/{project}/export?exportType=JSON_MIN")
    rows = [r for r in rows if r.get("choice") != [{"selected": "middle"}]]
    (tmp_path / "min.json").write_text(json.dumps(rows))
    cli("annotate-import", tmp_path / "min.json", "--tasks", tasks_dir, "-o", tmp_path / "out-min")
    prefs_min = {p["id"] for p in ShardSet(tmp_path / "out-min" / "preference")}
    assert prefs_min == {p["id"] for p in prefs.values()}
