import os
import sys

import pytest
from hypothesis import HealthCheck, settings

import runlite

# Hypothesis on a shared 2-core CI machine: no deadline flakes, modest example counts, and the
# same examples on every run (a CI result must not depend on luck); --full explores at random.
settings.register_profile("ci", deadline=None, max_examples=50, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("full", deadline=None, max_examples=1000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("full" if os.environ.get("RUNLITE_FULL") else "ci")


@pytest.fixture
def db_path(tmp_path):
    """A path for a new runlite file."""
    return str(tmp_path / "runs.db")


@pytest.fixture
def store(db_path):
    """An open store on a new file, closed after the test."""
    s = runlite.open(db_path)
    yield s
    s.close()


@pytest.fixture
def mem():
    """An in-memory store."""
    s = runlite.open(":memory:")
    yield s
    s.close()


@pytest.fixture
def traced(tmp_path):
    """A store on a new file that traced code writes to by default, closed after the test."""
    store = runlite.open(str(tmp_path / "t.db"))
    runlite.set_default_store(store)
    yield store
    runlite.set_default_store(None)
    store.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium for a module's tests (skipped, saying why, when missing)."""
    from .browsing import launched
    with launched() as chromium:
        yield chromium


@pytest.fixture
def watched(browser):
    """A fresh page that records console errors and blocks requests leaving this machine."""
    from .browsing import Watched
    w = Watched(browser)
    yield w
    w.context.close()


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", help="run stress tests with their full counts")
    parser.addoption("--write-guarantees", action="store_true",
                     help="write the stress summary table into docs/GUARANTEES.md")


def pytest_configure(config):
    if config.getoption("--full", default=False):
        os.environ["RUNLITE_FULL"] = "1"
        settings.load_profile("full")


PY = sys.executable
