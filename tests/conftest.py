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
