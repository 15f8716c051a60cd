"""``runlite serve`` against LangSmith's JavaScript SDK: a traced Node program writes into the
file unchanged. Needs Node and the ``langsmith`` npm package in ``$RUNLITE_LANGSMITH_JS`` (a
folder holding ``node_modules/langsmith``; ``.ci/run`` installs it there); skips without them."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess

import pytest

pytest.importorskip("starlette")

import runlite  # noqa: E402

from .serving import Served  # noqa: E402

JS_HOME = os.environ.get("RUNLITE_LANGSMITH_JS", "")
if not shutil.which("node"):
    pytest.skip("the JavaScript SDK test needs Node (apt-get install nodejs)", allow_module_level=True)
if not os.path.isdir(os.path.join(JS_HOME, "node_modules", "langsmith")):
    pytest.skip("the JavaScript SDK test needs the langsmith npm package: npm install --prefix DIR langsmith, "
                "then RUNLITE_LANGSMITH_JS=DIR (.ci/run does this)", allow_module_level=True)

PROGRAM = """
import { traceable } from "langsmith/traceable";
import { Client } from "langsmith";
const client = new Client();
const chat = traceable(async (prompt) => ({ text: prompt.split("").reverse().join("") }),
                       { name: "chat", run_type: "llm", client });
const fails = traceable(async (x) => { throw new Error(`bad value ${x}`); }, { name: "fails", client });
const pipeline = traceable(async (question) => {
  const answer = await chat(question);
  try { await fails(3); } catch (e) {}
  return { answer: answer.text };
}, { name: "pipeline", tags: ["js", "prod"], metadata: { user: "ada" }, client, project_name: "js-project" });
await pipeline("hello");
await client.awaitPendingTraceBatches();
"""


def test_a_traced_node_program_is_stored(tmp_path):
    script = tmp_path / "app.mjs"
    script.write_text(PROGRAM)
    db = str(tmp_path / "runs.db")
    with Served(db) as server:
        env = {**os.environ, "LANGSMITH_ENDPOINT": server.url, "LANGSMITH_API_KEY": "any", "LANGSMITH_TRACING": "true",
               "NODE_PATH": os.path.join(JS_HOME, "node_modules")}
        # ESM resolves packages from the script's folder up: link the SDK beside it.
        os.symlink(os.path.join(JS_HOME, "node_modules"), tmp_path / "node_modules")
        done = subprocess.run(["node", str(script)], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert server.stop() == 0
    with runlite.open(db, read_only=True) as store:
        runs = {r.name: r for r in store.list_runs(project_name="js-project")}
        assert set(runs) == {"pipeline", "chat", "fails"}
        root = runs["pipeline"]
        assert root.to_dict()["status"] == "success" and root.parent_run_id is None
        assert root.tags == ("js", "prod") and root.metadata["user"] == "ada"
        assert root.outputs == {"answer": "olleh"} and root.inputs == {"input": "hello"}
        assert runs["chat"].parent_run_id == root.id and runs["chat"].run_type == "llm"
        assert runs["chat"].outputs == {"text": "olleh"}
        assert runs["fails"].to_dict()["status"] == "error" and "bad value 3" in runs["fails"].error
        assert {r.trace_id for r in runs.values()} == {root.id}
        assert all(r.dotted_order.startswith(root.dotted_order) for r in runs.values())
        assert root.start_time <= runs["chat"].start_time <= runs["fails"].start_time
        # JavaScript's clock counts milliseconds; the SDK adds microseconds to the start times of
        # runs begun in the same millisecond (to order them), not to end times.
        assert runs["fails"].start_time <= root.end_time + dt.timedelta(milliseconds=1)
