"""The README runs as written, in a fresh folder.

Its ```python blocks run in order in one process, sharing names as a reader's session does
(``store`` of one block is used by the next), and its ```sh commands run in their place between
them, each in a shell. A command line is run unless a rule of ``NOT_RUN`` below says why not
(installing, servers that run until stopped, the network); a usage synopsis (``runlite ls [DB]
[--json]``) runs in its bare form (``runlite ls``), and the options of every ``runlite`` synopsis
or command not run are checked against the command's ``--help``. A block opts
out only with a first line ``# not run by tests: <the reason>``. Every command or block left out
is reported as a skipped test with its reason: nothing is left out silently. A block that raises,
or a command that exits non-zero, fails the test with the README's line number.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import runlite

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
OPT_OUT = "# not run by tests:"

# Commands a reader runs that this test does not, each with the reason (first match wins).
NOT_RUN = [
    (r"^pip install\b", "installs packages: the test runs the checkout it belongs to"),
    (r"^pytest\b", "runs the test suite this test belongs to"),
    (r"^(apt-get|npm)\b", "installs system or npm packages over the network"),
    (r"^bash \.ci/run\b", "CI's whole run: a fresh virtual environment and the whole suite"),
    (r"^python -m benchmarks\b", "benchmarks take minutes (CI runs python -m benchmarks --check)"),
    (r"^runlite (serve|ui)\b", "a server that runs until stopped (tests/test_server_*.py and "
                               "tests/test_viewer.py start and stop one)"),
    (r"^runlite push\b", "sends stored traces to a remote server over the network (tests/test_push*.py)"),
    (r"\bpython app\.py$", "the reader's own program (tests/test_server_langsmith.py runs the SDK's)"),
]
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*(\.\.\.)?$")  # RUN, DB, RUN...: words the reader fills in


def readme_blocks(text: str) -> list[tuple[str, int, str]]:
    """``(language, line of its first code line, code)`` of every fenced block."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            blocks.append((fence.group(1), i + 2, "\n".join(lines[i + 1:end]) + "\n"))
            i = end
        i += 1
    return blocks


def opted_out(code: str) -> str | None:
    """The reason a block gives for not being run, or None."""
    first = code.lstrip().splitlines()[0] if code.strip() else ""
    if not first.startswith(OPT_OUT):
        return None
    reason = first[len(OPT_OUT):].strip()
    assert reason, f"a block opting out must say why: {OPT_OUT} <reason>"
    return reason


def shell_commands(code: str, first_line: int) -> list[tuple[int, str]]:
    """``(line, command)`` of a sh block: lines (``\\`` continuations joined) split at ``&&``,
    comments dropped."""
    out, pending, start = [], "", 0
    for n, line in enumerate(code.splitlines(), first_line):
        if not pending:
            start = n
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        command = re.sub(r"(^|\s)#.*$", "", pending).strip()
        pending = ""
        out.extend((start, part.strip()) for part in command.split("&&") if part.strip())
    return out


def placeholders(command: str) -> list[str]:
    """The words of a command the reader fills in (``RUN``, ``DB``...), past ``runlite CMD``."""
    return [w for w in command.split()[2:] if PLACEHOLDER.match(w)]


def plan(text: str) -> tuple[list[dict], list[tuple[str, str]], list[tuple[int, str]]]:
    """The steps to run in order, ``(what, why)`` for each block or command left out, and
    ``(line, command)`` of the ``runlite`` commands whose options are checked against ``--help``:
    usage synopses (``runlite ls [DB] [--json]``: the bare form, ``runlite ls``, is a step unless
    it still has words to fill in) and the commands not run."""
    steps, left_out, synopses = [], [], []
    for lang, line, code in readme_blocks(text):
        if lang not in ("python", "sh"):
            continue
        reason = opted_out(code)
        if reason is not None:
            left_out.append((f"README.md:{line} ({lang} block)", reason))
        elif lang == "python":
            steps.append({"kind": "python", "line": line, "code": code})
        else:
            for n, command in shell_commands(code, line):
                why = next((why for pattern, why in NOT_RUN if re.search(pattern, command)), None)
                synopsis = "[" in command or bool(placeholders(command))
                if command.startswith("runlite ") and (why or synopsis):
                    synopses.append((n, command))
                if why is None and synopsis:
                    bare = re.sub(r"\s*\[[^\]]*\]", "", command)  # the optional parts dropped
                    if placeholders(bare):
                        why = "has words to fill in (RUN, DB...): its options are checked against --help"
                    else:
                        command = bare
                if why is not None:
                    left_out.append((f"README.md:{n} `{command}`", why))
                else:
                    steps.append({"kind": "sh", "line": n, "code": command})
    return steps, left_out, synopses


# Runs the steps in the fresh folder it is started in: python blocks in this one namespace (their
# tracebacks name README.md and its lines), commands through bash.
DRIVER = r'''
import json, subprocess, sys

namespace = {"__name__": "__main__"}
for step in json.load(open(sys.argv[1])):
    line, code = step["line"], step["code"]
    if step["kind"] == "python":
        exec(compile("\n" * (line - 1) + code, "README.md", "exec"), namespace)
    else:
        done = subprocess.run(["bash", "-c", code], capture_output=True, text=True)
        sys.stdout.write(done.stdout)
        assert done.returncode == 0, f"README.md:{line}: `{code}` exited {done.returncode}: {done.stderr}"
    print(f"ran README.md:{line}", flush=True)
'''


STEPS, LEFT_OUT, SYNOPSES = plan(README.read_text(encoding="utf-8"))


def test_the_readme_runs_as_written_in_a_fresh_folder(tmp_path):
    work, bin_dir = tmp_path / "fresh", tmp_path / "bin"
    work.mkdir()
    bin_dir.mkdir()
    # `runlite` and `python` in the README's commands are this checkout and this interpreter.
    (bin_dir / "runlite").write_text(f"#!{sys.executable}\nimport sys\nfrom runlite.cli import main\n"
                                     "sys.exit(main())\n")
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for shim in ("runlite", "python"):
        (bin_dir / shim).chmod(0o755)
    (tmp_path / "steps.json").write_text(json.dumps(STEPS))
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k != "RUNLITE_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    done = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "steps.json")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"a README snippet failed:\n{done.stderr[-6000:]}"
    finished = re.findall(r"^ran README\.md:(\d+)$", done.stdout, re.M)
    assert [int(n) for n in finished] == [step["line"] for step in STEPS]  # every step, in order
    with runlite.open(str(work / "runs.db"), read_only=True) as store:  # and left a sound file
        report = store.verify()
        assert report.ok, report


def test_the_readme_has_snippets_of_each_kind():
    kinds = {step["kind"] for step in STEPS}
    assert {"python", "sh"} <= kinds, kinds
    assert sum(step["kind"] == "python" for step in STEPS) >= 5


@pytest.mark.parametrize("line,synopsis", SYNOPSES, ids=[f"README.md:{n}" for n, _ in SYNOPSES])
def test_each_synopsis_names_options_its_command_has(line, synopsis):
    words = synopsis.split()
    assert words[0] == "runlite", f"README.md:{line}: a synopsis of what? `{synopsis}`"
    helped = subprocess.run([sys.executable, "-m", "runlite", words[1], "--help"], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert helped.returncode == 0, f"README.md:{line}: `runlite {words[1]} --help` failed: {helped.stderr}"
    for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", synopsis):
        assert re.search(rf"(?<![\w-]){option}(?![\w-])", helped.stdout), \
            f"README.md:{line}: `runlite {words[1]}` has no option {option} (synopsis `{synopsis}`)"


@pytest.mark.parametrize("what,why", LEFT_OUT, ids=[what for what, _ in LEFT_OUT])
def test_left_out_of_the_readme_run(what, why):
    pytest.skip(f"{what}: {why}")


def test_the_plan_follows_its_rules():
    text = (
        "```sh\npip install -e . && runlite demo   # writes runs.db\nrunlite ls [DB] [--json]\n"
        "runlite show RUN [DB]\nrunlite serve runs.db --port 1984\nrunlite sql \\\n  'SELECT 1'\n```\n"
        "```python\n# not run by tests: needs a LangSmith server\nimport langsmith\n```\n"
        "```python\nx = 1\n```\n```json\n{}\n```\n")
    steps, left_out, synopses = plan(text)
    assert [(s["kind"], s["line"], s["code"]) for s in steps] == [
        ("sh", 2, "runlite demo"), ("sh", 3, "runlite ls"), ("sh", 6, "runlite sql    'SELECT 1'"),
        ("python", 14, "x = 1\n")]
    assert [what for what, _ in left_out] == [
        "README.md:2 `pip install -e .`", "README.md:4 `runlite show RUN [DB]`",
        "README.md:5 `runlite serve runs.db --port 1984`", "README.md:10 (python block)"]
    assert synopses == [(3, "runlite ls [DB] [--json]"), (4, "runlite show RUN [DB]"),
                        (5, "runlite serve runs.db --port 1984")]
    with pytest.raises(AssertionError, match="must say why"):
        plan("```python\n# not run by tests:\nx = 1\n```\n")
