"""Exports download in a real browser, each checked for what it is.

The Playground's export menu (app/ui/exports.py over app/playground/exports.py): stills (PNG at
2x, SVG, PDF), the data (CSV, JSON), the offline page, the PyTorch script, and a GIF and an MP4
rendered as jobs with a progress bar, then downloaded. Files go to /tmp/shots/exports/.
"""

from __future__ import annotations

import json
import os
import struct

import pytest

from tests.browser import SHOTS, require

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = require()

OUT = os.path.join(SHOTS, "exports")
MENU = "Export: stills, GIF, MP4, page, data, script"


@pytest.fixture(scope="module")
def page(server, browser):
    os.makedirs(OUT, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
    pg = context.new_page()
    pg.goto(server)
    pg.wait_for_selector("canvas[data-role=map]", timeout=90_000)
    pg.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
    yield pg
    context.close()


def _open_menu(page) -> None:
    if not page.get_by_role("button", name="Data (CSV)").is_visible():
        page.get_by_role("button", name=MENU).click()
    page.get_by_role("button", name="Data (CSV)").wait_for(timeout=30_000)


def _download(page, name: str, timeout: float = 60_000) -> bytes:
    _open_menu(page)
    with page.expect_download(timeout=timeout) as info:
        page.get_by_role("button", name=name, exact=True).click()
    d = info.value
    path = os.path.join(OUT, d.suggested_filename)
    d.save_as(path)
    with open(path, "rb") as f:
        return f.read()


def _png_size(b: bytes) -> tuple[int, int]:
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", b[16:24])


def test_stills_download_as_png_svg_pdf(page):
    png = _download(page, "Race map: PNG (2x, 2560x1440)")
    assert _png_size(png) == (2560, 1440)
    svg = _download(page, "Race map: SVG")
    assert b"<svg" in svg[:500] and "Rosenbrock".encode() in svg
    pdf = _download(page, "Loss chart: PDF")
    assert pdf[:5] == b"%PDF-"


def test_the_data_the_page_and_the_script_download(page):
    csv = _download(page, "Data (CSV)").decode("utf-8")
    header = csv.splitlines()[0].split(",")
    assert header[:8] == ["run", "label", "precision", "remedy", "step", "theta1", "theta2", "loss"]
    assert len(csv.splitlines()) == 1 + 6 * 501
    js = json.loads(_download(page, "Data and settings (JSON)"))
    assert js["scene"]["surface"] == "Rosenbrock" and len(js["runs"]) == 6
    html = _download(page, "Offline page (HTML)").decode("utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and "http://" not in html and "https://" not in html
    script = _download(page, "PyTorch script").decode("utf-8")
    assert "import torch" in script and "import optim_core" not in script and "from optim_core" not in script
    compile(script, "scene.py", "exec")  # valid Python (it is run and compared in test_export_torch_script)


@pytest.mark.parametrize("kind, magic", [("GIF 1280x720", b"GIF89a"), ("MP4 1280x720", b"ftyp")])
def test_animations_render_as_jobs_with_progress_then_download(page, kind, magic):
    _open_menu(page)
    page.get_by_role("button", name=f"Render {kind}").click()
    # The fragment polls the job: a progress bar, then the download button.
    page.get_by_role("button", name=f"Download {kind}").wait_for(timeout=120_000)
    data = _download(page, f"Download {kind}")
    assert magic in data[:12]
    if kind.startswith("MP4"):
        import imageio_ffmpeg

        path = os.path.join(OUT, "check.mp4")
        with open(path, "wb") as f:
            f.write(data)
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        frames = sum(1 for _ in reader)
        assert tuple(meta["size"]) == (1280, 720) and meta["codec"] == "h264" and frames >= 24 * 5


def _fresh(server, browser, path: str):
    context = browser.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
    pg = context.new_page()
    pg.goto(server + path)
    pg.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=90_000)
    return context, pg


def _save(info) -> bytes:
    d = info.value
    path = os.path.join(OUT, d.suggested_filename)
    d.save_as(path)
    with open(path, "rb") as f:
        return f.read()


def test_a_schedule_chart_downloads_as_a_still(server, browser):
    context, pg = _fresh(server, browser, "schedules")
    pg.get_by_role("button", name="Export").first.click()
    with pg.expect_download(timeout=60_000) as info:
        pg.get_by_role("button", name="PNG (2x, 2560x1440)").first.click()
    assert _png_size(_save(info)) == (2560, 1440)
    context.close()


def test_live_training_exports_its_boundaries_and_its_script(server, browser):
    context, pg = _fresh(server, browser, "live-training")
    pg.get_by_role("button", name="Step").click()
    pg.wait_for_function("() => window.__oeLive && window.__oeLive.step > 0", timeout=90_000)
    pg.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=90_000)
    pg.get_by_role("button", name="Export").first.click()
    with pg.expect_download(timeout=60_000) as info:
        pg.get_by_role("button", name="Decision boundaries: PNG (2x, 2560x1440)").click()
    assert _png_size(_save(info)) == (2560, 1440)
    with pg.expect_download(timeout=60_000) as info:
        pg.get_by_role("button", name="PyTorch script").click()
    script = _save(info).decode("utf-8")
    assert "import torch" in script and "import optim_core" not in script and "from optim_core" not in script
    compile(script, "live_training.py", "exec")  # its numbers: tests/test_export_live_script.py
    context.close()
