"""Simvue's own examples (python-api repository, examples/), run with only the import changed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import runlite

click = pytest.importorskip("click")

# examples/Logging/logging-to-simvue.py, verbatim but for its first simvue import line.
LOGGING_EXAMPLE = textwrap.dedent('''
    import logging
    import click

    from runlite.simvue import Handler, Run


    @click.command
    @click.option("--ci", is_flag=True, default=False)
    def simvue_logger_demo(ci: bool) -> None:
        with Run() as run:
            run.init(
                tags=["logging", "simvue_client_examples"],
                folder="/simvue_client_demos",
                description="Logging test",
                retention_period="1 hour" if ci else None,
                visibility="tenant" if ci else None,
            )

            logger = logging.getLogger(__name__)
            logger.setLevel(logging.DEBUG)
            sth = Handler(run)
            logger.addHandler(sth)

            logger.info("This is a Simvue logging test")

    if __name__ == "__main__":
        simvue_logger_demo()
''')


@pytest.mark.parametrize("ci", [False, True])
def test_the_logging_example(tmp_path, ci):
    path = str(tmp_path / "runs.db")
    script = tmp_path / "logging-to-simvue.py"
    script.write_text(LOGGING_EXAMPLE)
    done = subprocess.run([sys.executable, str(script), *(["--ci"] if ci else [])], capture_output=True, text=True,
                          env={**os.environ, "RUNLITE_DB": path}, timeout=120)
    assert done.returncode == 0, done.stderr
    with runlite.open(path, read_only=True) as store:
        (run,) = store.runs()
        assert run.status == "completed" and run.folder == "/simvue_client_demos"
        assert set(run.tags) == {"logging", "simvue_client_examples"} and run.description == "Logging test"
        assert [e.message for e in store.events(run.id)] == ["This is a Simvue logging test"]
