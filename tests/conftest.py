import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


import pytest


@pytest.fixture
def float64_torch():
    """torch's default dtype float64 for one test, restored afterwards (it is process-global)."""
    torch = pytest.importorskip("torch")
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(saved)


@pytest.fixture(autouse=True)
def torch_default_dtype_kept():
    """A test that changes torch's process-wide default dtype (a generated script exec'd in-process, a
    ``set_default_dtype`` without restoring) fails here, instead of a later test failing far away."""
    torch = sys.modules.get("torch")
    before = torch.get_default_dtype() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        after = torch.get_default_dtype()
        assert after == (before or torch.float32), f"torch's default dtype left at {after}"


@pytest.hookimpl(tryfirst=True)
def pytest_collectreport(report):
    """In CI (``CI=true``) a module skipped at collection is a failure (see below)."""
    if os.environ.get("CI") == "true" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where the test extra and Chromium are installed: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test fails: there everything the suite needs is installed, so a skip
    can only mean a broken install or a test that quietly stopped testing."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where the test extra and Chromium are installed: {report.longrepr}"


# -- browser tests (tests/browser.py): one app server and one Chromium per test module ---------
@pytest.fixture(scope="module")
def server(request):
    """The app on a free localhost port; its log in /tmp/shots/streamlit-<test module>.log."""
    from app import devserver
    from tests.browser import SHOTS

    os.makedirs(SHOTS, exist_ok=True)
    name = request.module.__name__.rsplit(".", 1)[-1]
    with devserver.serve(log_path=os.path.join(SHOTS, f"streamlit-{name}.log")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (a skip, or a failure in CI, without them)."""
    from app import devserver
    from tests.browser import require

    sync_api = require()
    with sync_api.sync_playwright() as pw:
        b = devserver.launch(pw)
        yield b
        b.close()
