"""Replicas behind HAProxy (deploy/replicas.py), the container recipe and the Kubernetes manifest.

The cluster tests start ``python -m deploy.replicas --replicas 2`` (free ports) as a class would,
speak to it over HTTP and Streamlit's websocket protocol (its protobufs, through the
``websockets`` client Streamlit itself depends on) and stop it with SIGTERM. They need HAProxy
(``apt-get install -y haproxy``): without it they are skipped, and fail under ``CI=true``. The
Dockerfile and manifest tests read the files only (no Docker daemon or cluster is needed).

Uploads (Live Training's checkpoints) are sent as the browser sends them (a multipart PUT with the
XSRF cookie and header, to ``/_stcore/upload_file/<session>/<file>``), and once by Chromium through
the page itself. HAProxy counts upload PUTs per client address, so each test that uploads connects
from its own loopback address (127.0.0.2, 127.0.0.3...: all of 127/8 is this machine) and starts
from an empty count whatever ran before it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from app.budget import CHECKPOINT_MAX_BYTES
from deploy import replicas as R

ROOT = Path(__file__).resolve().parent.parent


# -- the cluster ---------------------------------------------------------------------------------
class Running:
    """The ``python -m deploy.replicas`` process and what it printed."""

    def __init__(self, proc: subprocess.Popen, lines: list[str]):
        self.proc, self.lines = proc, lines
        text = "\n".join(lines)
        self.front = int(re.search(r"Open: +http://127\.0\.0\.1:(\d+)/", text).group(1))
        self.replicas = {m.group(1): (int(m.group(2)), int(m.group(3)))  # name -> (port, pid)
                         for m in re.finditer(r"replica (r\d+): http://127\.0\.0\.1:(\d+)/ \(pid (\d+)", text)}
        self.haproxy_pid = int(re.search(r"haproxy: pid (\d+)", text).group(1))
        self.load_test = next(line for line in lines if line.startswith("Load test:"))

    def get(self, path: str, cookie: str | None = None, method: str = "GET"):
        conn = http.client.HTTPConnection("127.0.0.1", self.front, timeout=10)
        try:
            conn.request(method, path, headers={"Cookie": cookie} if cookie else {})
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        finally:
            conn.close()


def _read_until_open(proc: subprocess.Popen, lines: list[str], timeout: float) -> None:
    """Collect the script's output (on a thread: a pipe read has no timeout) until it prints the URL."""
    opened = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Open:"):
                opened.set()
        opened.set()  # the process ended

    threading.Thread(target=pump, daemon=True).start()
    opened.wait(timeout)
    if not any(line.startswith("Open:") for line in lines) or proc.poll() is not None:
        raise AssertionError("deploy.replicas did not start:\n" + "\n".join(lines))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if R.find_haproxy() is None:
        from tests.browser import skip_or_fail

        skip_or_fail("HAProxy is not installed (apt-get install -y haproxy; .ci/run installs it)")
    log_dir = tmp_path_factory.mktemp("replicas")
    proc = subprocess.Popen([sys.executable, "-m", "deploy.replicas", "--replicas", "2", "--port", "0",
                             "--replica-port", "0", "--log-dir", str(log_dir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        _read_until_open(proc, lines, timeout=R.START_TIMEOUT + 20)
        yield Running(proc, lines)
    finally:
        if proc.poll() is None:  # test_stops_cleanly did not get to it
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_prints_the_url_to_open_and_to_load_test(cluster):
    assert set(cluster.replicas) == {"r1", "r2"}
    assert len({port for port, _ in cluster.replicas.values()} | {cluster.front}) == 3
    assert cluster.load_test.endswith(f"--url http://127.0.0.1:{cluster.front}/")
    assert "python -m loadtest run" in cluster.load_test


def test_both_replicas_are_healthy_directly_and_through_the_proxy(cluster):
    for name, (port, _) in cluster.replicas.items():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/_stcore/health")
        assert conn.getresponse().read() == b"ok"
        conn.close()
        status, headers, body = cluster.get("/_stcore/health", cookie=f"SERVERID={name}")
        assert (status, body, headers["X-Replica"]) == (200, b"ok", name)


def test_first_response_sets_the_cookie_and_the_cookie_holds(cluster):
    status, headers, body = cluster.get("/")
    assert status == 200 and b"<html" in body.lower()
    cookie = headers["Set-Cookie"]
    m = re.fullmatch(r"SERVERID=(r[12]); path=/; HttpOnly", cookie)
    assert m, cookie
    first = m.group(1)
    assert headers["X-Replica"] == first
    # With the cookie, every request goes to that replica (and gets no new cookie)...
    for path in ["/", "/_stcore/health", "/_stcore/host-config"] * 4:
        status, h, _ = cluster.get(path, cookie=f"SERVERID={first}")
        assert status == 200 and h["X-Replica"] == first, (path, dict(h))
        assert not any("SERVERID" in c for c in h.get_all("Set-Cookie") or []), (path, dict(h))
    # ...while requests without it are spread over both (round robin): the cookie is what holds.
    assert {cluster.get("/_stcore/health")[1]["X-Replica"] for _ in range(4)} == {"r1", "r2"}


def test_the_proxy_refuses_metrics_and_the_agent_api(cluster):
    """Also spelled with percent-escapes: the replica's router decodes them (``%5F`` is ``_``,
    ``%2F`` is ``/``), so the proxy must compare the decoded path."""
    for path in ("/_stcore/metrics", "/_stcore/metric%73", "/%5Fstcore/metrics", "/_stcore%2Fmetrics",
                 "/_stcore/agent/openapi.json", "/_stcore/agen%74/mcp"):
        status, headers, _ = cluster.get(path)
        assert status == 403 and "X-Replica" not in headers, path  # refused by HAProxy itself
    port, _ = cluster.replicas["r1"]  # the replica itself still serves its metrics on loopback
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/_stcore/metrics")
    assert conn.getresponse().status == 200
    conn.close()


# -- uploads: what HAProxy refuses before any byte of the body goes on ------------------------------
UPLOAD = "/_stcore/upload_file/{session}/{file}"


def _raw(port: int, head: str, body: bytes = b"", source: str = "127.0.0.1") -> tuple[int, dict]:
    """Send a request head (and maybe part of its body) on a plain socket; the status and headers (names in
    lower case) of the answer. A proxy that refuses on the head answers before the announced body arrives."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    return int(lines[0].split()[1]), headers


def test_the_proxy_refuses_other_methods_shapes_unbounded_and_oversized_uploads(cluster):
    """Only PUT and DELETE on ``/_stcore/upload_file/<session>/<file>`` pass; a PUT must declare its
    length, at most the replicas' ``server.maxUploadSize`` in bytes. Each refusal is HAProxy's own
    (no ``X-Replica``), and refused requests do not count against the rate limit (127.0.0.5 sends
    more of them than the limit, then a PUT that passes)."""
    route = UPLOAD.format(session=uuid.uuid4(), file=uuid.uuid4())
    src = "127.0.0.5"
    refused = []
    for method in ("GET", "POST", "OPTIONS", "PATCH"):
        refused.append((f"{method} {route} HTTP/1.1\nHost: x\nContent-Length: 0\n", 405))
    for path in ("/_stcore/upload_file", "/_stcore/upload_file/", "/_stcore/upload_file/a/b/c",
                 "/_stcore/upload_file/a.b/c", "/_stcore/upload%5Ffile/x/" + "y" * 65, "/_stcore/upload_filex/a/b"):
        refused.append((f"PUT {path} HTTP/1.1\nHost: x\nContent-Length: 0\n", 403))
    # No declared length: a chunked body (Content-Length with it is dropped, as HTTP/1.1 says).
    refused.append((f"PUT {route} HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n", 411))
    refused.append((f"PUT {route} HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nContent-Length: 15\n", 411))
    # One byte over, under both spellings of the path; and far over.
    for path in (route, route.replace("upload_file", "upload%5Ffile")):
        refused.append((f"PUT {path} HTTP/1.1\nHost: x\nContent-Length: {R.UPLOAD_MAX_BODY + 1}\n", 413))
    refused.append((f"DELETE {route} HTTP/1.1\nHost: x\nContent-Length: {R.UPLOAD_MAX_BODY + 1}\n", 413))
    refused.append((f"PUT {route} HTTP/1.1\nHost: x\nContent-Length: {10 * R.UPLOAD_MAX_BODY}\n", 413))
    assert len(refused) > R.UPLOADS_PER_MINUTE
    for head, expected in refused:
        body = b"5\r\nhello\r\n0\r\n\r\n" if "chunked" in head else b"x" * 1000  # (a well-formed chunk)
        status, headers = _raw(cluster.front, head, body, source=src)
        assert (status, "x-replica" in headers) == (expected, False), head
    # A well-formed PUT from the same address still reaches a replica (which refuses it: no XSRF token).
    status, headers = _raw(cluster.front, f"PUT {route} HTTP/1.1\nHost: x\nContent-Length: 0\n", source=src)
    assert (status, headers.get("x-replica") in ("r1", "r2")) == (403, True), headers


# -- uploads that pass: they reach the session's replica, within the bound and the rate -------------
def _multipart(data: bytes, name: str = "race.safetensors") -> tuple[bytes, str]:
    """The body and Content-Type Streamlit's frontend sends: one part, named after the file."""
    boundary = "----WebKitFormBoundary" + uuid.uuid4().hex[:16]
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n")
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


FRAMING = len(_multipart(b"")[0])  # bytes of a body besides the file


def _upload(port: int, replica: str, token: str, session_id: str, data: bytes, *, source: str,
            method: str = "PUT", file_id: str | None = None):
    """One upload as Streamlit's frontend sends it (multipart/form-data, the XSRF token as cookie and
    header), or its DELETE: ``(status, headers, body)``."""
    file_id = file_id or str(uuid.uuid4())
    headers = {"Cookie": f"SERVERID={replica}; _streamlit_xsrf={token}", "X-Xsrftoken": token}
    body = b""
    if method == "PUT":
        body, headers["Content-Type"] = _multipart(data)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        conn.request(method, UPLOAD.format(session=session_id, file=file_id), body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def _uploads_held(port: int, expected: int | None = None) -> int:
    """Bytes of uploaded files a replica holds, from its own /_stcore/metrics (on its loopback port).
    Streamlit recomputes that figure at most every 5 s: wait until it is ``expected`` (at most 12 s),
    or, with None, until a fresh figure is certain."""
    deadline = time.monotonic() + 12
    if expected is None:
        time.sleep(5.5)
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/_stcore/metrics?families=cache_memory_bytes")
        text = conn.getresponse().read().decode()
        conn.close()
        m = re.search(r'^cache_memory_bytes\{cache_type="UploadedFileManager",cache="[^"]*"\} (\d+)', text, re.M)
        held = int(m.group(1)) if m else 0
        if expected is None or held == expected or time.monotonic() > deadline:
            return held
        time.sleep(0.5)


@contextlib.contextmanager
def _session(cluster, replica: str):
    """A live session on ``replica`` (its id) and the XSRF token a browser would hold, while its websocket
    stays open (an upload needs a connected session)."""
    # The page polls /_stcore/health before it connects; the answer sets the XSRF cookie.
    _, headers, _ = cluster.get("/_stcore/health", cookie=f"SERVERID={replica}")
    token = next(c.split(";")[0].split("=", 1)[1] for c in headers.get_all("Set-Cookie")
                 if c.startswith("_streamlit_xsrf="))
    with _ws(cluster, replica) as ws:
        _rerun(ws)
        msgs = _recv(ws, lambda m: m.WhichOneof("type") == "script_finished")
        yield msgs[0].new_session.initialize.session_id, token


def test_an_upload_within_the_bound_reaches_the_sessions_replica_and_delete_frees_it(cluster):
    """A checkpoint of the largest size the app accepts goes through HAProxy to the replica that holds
    the session (its cookie), and lands in that replica's memory (its own metrics say so, the other's
    do not); the browser's DELETE reaches it too and frees it. Sent with the other replica's cookie,
    the same upload gets that replica's 400: without stickiness uploads would fail. A body of the
    replicas' bound passes; one byte more is refused by HAProxy, and by the replica itself."""
    src = "127.0.0.2"
    r2, r1 = cluster.replicas["r2"][0], cluster.replicas["r1"][0]
    with _session(cluster, "r2") as (session_id, token):
        before = _uploads_held(r2), _uploads_held(r1, None)
        checkpoint = bytes(range(256)) * (CHECKPOINT_MAX_BYTES // 256) + b"\0" * (CHECKPOINT_MAX_BYTES % 256)
        assert len(checkpoint) == CHECKPOINT_MAX_BYTES
        file_id = str(uuid.uuid4())
        status, headers, body = _upload(cluster.front, "r2", token, session_id, checkpoint, source=src,
                                        file_id=file_id)
        assert (status, headers["X-Replica"]) == (204, "r2"), body[:300]
        assert _uploads_held(r2, before[0] + CHECKPOINT_MAX_BYTES) == before[0] + CHECKPOINT_MAX_BYTES

        status, headers, body = _upload(cluster.front, "r1", token, session_id, b"x" * 100, source=src)
        assert (status, headers["X-Replica"]) == (400, "r1") and b"session" in body, body[:300]
        assert _uploads_held(r1, None) == before[1]

        status, headers, _ = _upload(cluster.front, "r2", token, session_id, b"", source=src, method="DELETE",
                                     file_id=file_id)
        assert (status, headers["X-Replica"]) == (204, "r2")
        assert _uploads_held(r2, before[0]) == before[0]

        # The largest body the replicas take, framing included, is UPLOAD_MAX_BODY bytes, and it passes
        # the proxy; one byte more is refused there. The replica compares the same number itself (asked
        # directly, on its loopback port).
        largest = b"x" * (R.UPLOAD_MAX_BODY - FRAMING)
        status, headers, body = _upload(cluster.front, "r2", token, session_id, largest, source=src)
        assert (status, headers["X-Replica"]) == (204, "r2"), body[:300]
        # One more: only the head and the start of the body are sent, since the answer comes on the head.
        body, content_type = _multipart(largest + b"x")
        assert len(body) == R.UPLOAD_MAX_BODY + 1
        head = (f"PUT {UPLOAD.format(session=session_id, file=uuid.uuid4())} HTTP/1.1\nHost: x\n"
                f"Cookie: SERVERID=r2; _streamlit_xsrf={token}\nX-Xsrftoken: {token}\n"
                f"Content-Type: {content_type}\nContent-Length: {len(body)}\n")
        status, headers = _raw(cluster.front, head, body[:65536], source=src)
        assert (status, "x-replica" in headers) == (413, False)
        status, headers = _raw(r2, head, body[:65536], source=src)
        assert (status, headers.get("server")) == (413, "uvicorn")
        assert _uploads_held(r2, None) == before[0] + len(largest)


def test_uploads_past_the_rate_limit_get_429_per_client_address(cluster):
    """UPLOADS_PER_MINUTE PUTs from one address reach the replica; the next is refused by HAProxy (429)
    without reaching it. Another address is not affected, and DELETE (which frees memory) is not counted."""
    with _session(cluster, "r2") as (session_id, token):
        answers = [_upload(cluster.front, "r2", token, session_id, b"tiny checkpoint", source="127.0.0.3")[:2]
                   for _ in range(R.UPLOADS_PER_MINUTE + 2)]
        codes = [(status, headers.get("X-Replica")) for status, headers in answers]
        assert codes == [(204, "r2")] * R.UPLOADS_PER_MINUTE + [(429, None)] * 2, codes
        status, headers, _ = _upload(cluster.front, "r2", token, session_id, b"tiny", source="127.0.0.4")
        assert (status, headers["X-Replica"]) == (204, "r2")
        status, headers, _ = _upload(cluster.front, "r2", token, session_id, b"", source="127.0.0.3",
                                     method="DELETE")
        assert (status, headers["X-Replica"]) == (204, "r2")


# -- Streamlit's websocket protocol ----------------------------------------------------------------
def _ws(cluster, replica: str):
    from websockets.sync.client import connect

    return connect(f"ws://127.0.0.1:{cluster.front}/_stcore/stream", subprotocols=["streamlit"],
                   additional_headers={"Cookie": f"SERVERID={replica}"}, max_size=None, open_timeout=10)


def _recv(ws, until, timeout: float = 30.0) -> list:
    """ForwardMsgs until ``until(msg)`` holds (that one included)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    out, deadline = [], time.monotonic() + timeout
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        out.append(msg)
        if until(msg):
            return out


def _rerun(ws) -> None:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    back = BackMsg()
    back.rerun_script.query_string = ""
    back.rerun_script.page_script_hash = ""
    ws.send(back.SerializeToString())


def _download_buttons(msgs) -> dict[str, str]:
    """label -> deferred file id of the download buttons the page drew."""
    out = {}
    for m in msgs:
        if m.WhichOneof("type") == "delta" and m.delta.WhichOneof("type") == "new_element":
            el = m.delta.new_element
            if el.WhichOneof("type") == "download_button" and el.download_button.deferred_file_id:
                out[el.download_button.label] = el.download_button.deferred_file_id
    return out


def test_websocket_upgrades_through_the_proxy_and_media_stays_with_its_session(cluster):
    """A session opened through the proxy lives on the replica its cookie names. A download the page
    generates on click (the Playground's CSV: ``st.download_button(data=callable)``) is created in
    that replica's memory and served from its ``/media``: the browser's GET reaches it only because
    it carries the same cookie. Sent to the other replica, the same URL is a 404 -- what a student
    would get behind a balancer without stickiness."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    with _ws(cluster, "r2") as ws:
        assert ws.response.status_code == 101
        assert ws.response.headers["X-Replica"] == "r2"
        assert ws.subprotocol == "streamlit"
        _rerun(ws)
        msgs = _recv(ws, lambda m: m.WhichOneof("type") == "script_finished")
        kinds = [m.WhichOneof("type") for m in msgs]
        assert kinds[0] == "new_session", kinds[:5]
        session_id = msgs[0].new_session.initialize.session_id
        errors = [m.delta.new_element.exception.message for m in msgs if m.WhichOneof("type") == "delta"
                  and m.delta.new_element.WhichOneof("type") == "exception"]
        assert not errors, errors
        buttons = _download_buttons(msgs)
        csv = next((fid for label, fid in buttons.items() if "CSV" in label), None)
        assert csv is not None, sorted(buttons)

        back = BackMsg()
        back.backend_operation_request.request_id = "csv-1"
        back.backend_operation_request.session_id = session_id
        back.backend_operation_request.deferred_file.file_id = csv
        ws.send(back.SerializeToString())
        answer = _recv(ws, lambda m: m.WhichOneof("type") == "backend_operation_response"
                       and m.backend_operation_response.request_id == "csv-1")[-1].backend_operation_response
        assert not answer.error_msg, answer.error_msg
        url = answer.deferred_file.url
        assert url.startswith("/media/") and url.endswith(".csv"), url

        status, headers, body = cluster.get(url, cookie="SERVERID=r2")
        assert (status, headers["X-Replica"]) == (200, "r2")
        assert headers["Content-Disposition"].startswith("attachment") and body.count(b"\n") > 10
        status, headers, _ = cluster.get(url, cookie="SERVERID=r1")
        assert (status, headers["X-Replica"]) == (404, "r1")


def test_a_teacher_resumes_a_saved_race_through_the_proxy(cluster, tmp_path):
    """The whole path in Chromium, through HAProxy and two replicas: Live Training trains a few steps, the
    race is saved (a download), uploaded back through the page's uploader, and the page says it is loaded.
    The browser's PUT, and its DELETE when the file is removed, reach the replica that holds the session
    (the one its SERVERID cookie names). Screenshot: /tmp/shots/replicas-upload.png."""
    from app import devserver
    from app.training import backend as T
    from tests.browser import SHOTS, require, skip_or_fail

    sync_api = require()
    if not T.torch_available():
        skip_or_fail("Live Training needs the torch extra (pip install -e '.[torch]')")
    os.makedirs(SHOTS, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = devserver.launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720}, accept_downloads=True)
            seen = []  # (method, status, replica) of every request to the upload route
            page.on("response", lambda r: seen.append((r.request.method, r.status, r.headers.get("x-replica")))
                    if "/_stcore/upload_file/" in r.url else None)
            page.goto(f"http://127.0.0.1:{cluster.front}/live-training")
            page.wait_for_function("() => window.__oeLive && window.__oeLive.redraws >= 1", timeout=120_000)
            replica = next(c["value"] for c in page.context.cookies() if c["name"] == "SERVERID")
            page.get_by_role("button", name="Start").click()
            page.wait_for_function("() => window.__oeLive.step >= 30", timeout=60_000)
            page.get_by_role("button", name="Pause").click()
            page.get_by_text("Checkpoint: save, resume").click()
            save = page.get_by_role("button", name=re.compile(r"Save the race at step"))
            save.wait_for(timeout=30_000)
            time.sleep(1.0)  # the paused page has settled: the button saves the step it names
            with page.expect_download(timeout=60_000) as download:
                save.click()
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            assert re.fullmatch(r"live-training-step-\d+\.safetensors", saved.name), saved.name
            assert 0 < saved.stat().st_size <= CHECKPOINT_MAX_BYTES

            page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(saved))
            loaded = page.get_by_text(re.compile(rf"Loaded {re.escape(saved.name)}: \d runs? at step"))
            loaded.wait_for(timeout=60_000)
            loaded.scroll_into_view_if_needed()
            page.screenshot(path=os.path.join(SHOTS, "replicas-upload.png"))
            assert seen == [("PUT", 204, replica)], seen

            page.locator("[data-testid=stFileUploader] [data-testid=stFileChipDeleteBtn]").first.click()
            deadline = time.monotonic() + 15
            while len(seen) < 2 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            assert seen == [("PUT", 204, replica), ("DELETE", 204, replica)], seen
        finally:
            browser.close()


def test_stops_cleanly(cluster):
    """SIGTERM (as Ctrl-C) stops HAProxy and both replicas; no process is left behind."""
    pids = [cluster.haproxy_pid] + [pid for _, pid in cluster.replicas.values()]
    cluster.proc.send_signal(signal.SIGTERM)
    assert cluster.proc.wait(30) == 0
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]
    time.sleep(0.2)  # the output thread reads the last lines
    assert cluster.lines[-1] == "stopped", cluster.lines[-5:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


# -- the HAProxy config, without running it -----------------------------------------------------------
def test_haproxy_config_has_stickiness_websockets_health_and_timeouts(tmp_path):
    text = R.render_config("127.0.0.1:8500", [("r1", 8501), ("r2", 8502)])
    assert not re.search(r"@[A-Z_]+@", text)
    for needle in ("balance roundrobin", "cookie SERVERID insert indirect nocache",
                   "server r1 127.0.0.1:8501 cookie r1", "server r2 127.0.0.1:8502 cookie r2",
                   "uri /_stcore/health", "bind 127.0.0.1:8500"):
        assert needle in text, needle
    for t in ("connect", "client", "server", "tunnel", "http-request", "queue", "check"):
        assert re.search(rf"^\s*timeout {t} \d+[smh]\b", text, re.M), t
    assert "balance source" not in text and "hash-type" not in text  # no IP stickiness
    # The upload bounds, from deploy/replicas.py (which reads the checkpoint bound from app/budget.py).
    assert f"req.hdr_val(content-length) gt {R.UPLOAD_MAX_BODY}" in text
    assert f"sc_http_req_rate(0) gt {R.UPLOADS_PER_MINUTE}" in text
    assert re.search(r"^\s*stick-table type ipv6 .*store http_req_rate\(1m\)", text, re.M)
    haproxy = R.find_haproxy()
    if haproxy is not None:
        path = tmp_path / "haproxy.cfg"
        path.write_text(text)
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


# -- the container recipe and the manifest ------------------------------------------------------------
def _flag_pairs(args) -> dict[str, str]:
    args = list(args)
    return {a: b for a, b in zip(args, args[1:]) if a.startswith("--")}


def _dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")  # line continuations
    m = re.search(r"^CMD (\[.*?\])\s*$", text, re.M)
    import json

    return json.loads(m.group(1))


def test_dockerfile_runs_the_app_as_replicas_do():
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")  # line continuations
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    pyproject = (ROOT / "pyproject.toml").read_text()
    torch_pin = re.search(r'torch = \["(torch==[^"]+)"\]', pyproject).group(1)
    assert '".[torch]"' in text or "'.[torch]'" in text
    assert torch_pin in text, f"the Dockerfile should pin {torch_pin} as pyproject does"
    assert re.search(r"^USER (?!root)\S+", text, re.M)
    assert re.search(r"^HEALTHCHECK .*/_stcore/health", text, re.M)
    cmd = _flag_pairs(_dockerfile_cmd())
    for flag, value in _flag_pairs(R.SERVER_FLAGS).items():
        assert cmd.get(flag) == value, (flag, cmd.get(flag), value)
    assert cmd.get("--server.address") == "0.0.0.0"


def _manifest():
    yaml = pytest.importorskip("yaml")  # PyYAML: transformers and timm (the test extra) require it
    return list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()))


def test_kubernetes_manifest_has_affinity_probes_and_a_shared_secret():
    docs = {d["kind"]: d for d in _manifest() if d}
    assert {"Secret", "Deployment", "Service", "Ingress"} <= set(docs)
    dep = docs["Deployment"]
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/_stcore/health", probe
    env = {e["name"]: e for e in c["env"]}
    ref = env["STREAMLIT_SERVER_COOKIE_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == docs["Secret"]["metadata"]["name"] and ref["key"] in docs["Secret"]["stringData"]
    assert {"requests", "limits"} <= set(c["resources"]) and "memory" in c["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    # Same flags as the replicas script (the image's CMD), through args.
    args = _flag_pairs(c.get("args") or _dockerfile_cmd())
    for flag, value in _flag_pairs(R.SERVER_FLAGS).items():
        assert args.get(flag) == value, flag

    svc = docs["Service"]
    assert svc["spec"].get("sessionAffinity", "None") == "None"  # ClientIP: one campus NAT, one pod
    ann = docs["Ingress"]["metadata"]["annotations"]
    p = "nginx.ingress.kubernetes.io/"
    assert ann[p + "affinity"] == "cookie"
    assert ann[p + "session-cookie-name"]
    assert int(ann[p + "session-cookie-max-age"]) > 0
    assert int(ann[p + "proxy-read-timeout"]) >= 3600 and int(ann[p + "proxy-send-timeout"]) >= 3600
    assert "upstream-hash-by" not in " ".join(ann)  # no hashing on the client address
    backend = docs["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"]


def test_the_upload_bound_is_the_checkpoint_bound_in_every_deployment():
    """One number, read from app/budget.py by deploy/replicas.py: the replicas' server.maxUploadSize (whole
    MiB, as Streamlit counts it) holds the largest checkpoint the app accepts, sent as the browser sends
    it (with a file name of 255 characters), and is the fewest MiB that do; HAProxy's body limit is that
    many bytes; the Dockerfile's CMD and the Ingress's proxy-body-size say the same number, beside a
    comment naming app/budget.py."""
    mib = 1024 * 1024
    largest = len(_multipart(b"", name="x" * 255 + ".safetensors")[0]) + CHECKPOINT_MAX_BYTES
    assert largest <= R.UPLOAD_MAX_MB * mib == R.UPLOAD_MAX_BODY
    assert (R.UPLOAD_MAX_MB - 1) * mib < CHECKPOINT_MAX_BYTES + R.MULTIPART_FRAMING
    assert largest - CHECKPOINT_MAX_BYTES <= R.MULTIPART_FRAMING
    assert _flag_pairs(R.SERVER_FLAGS)["--server.maxUploadSize"] == str(R.UPLOAD_MAX_MB)

    assert _flag_pairs(_dockerfile_cmd())["--server.maxUploadSize"] == str(R.UPLOAD_MAX_MB)
    dockerfile = (ROOT / "Dockerfile").read_text()
    comment = dockerfile[:dockerfile.index("\nCMD ")].rsplit("\n\n", 1)[1]
    assert "app/budget.py" in comment and f"{R.UPLOAD_MAX_MB} MiB" in comment, comment

    ann = next(d for d in _manifest() if d and d["kind"] == "Ingress")["metadata"]["annotations"]
    size = ann["nginx.ingress.kubernetes.io/proxy-body-size"]
    m = re.fullmatch(r"(\d+)([km]?)", size)  # nginx's sizes: bytes, k (KiB) or m (MiB)
    assert m and int(m.group(1)) * {"": 1, "k": 1024, "m": mib}[m.group(2)] == R.UPLOAD_MAX_BODY, size
    manifest = (ROOT / "deploy" / "kubernetes.yaml").read_text()
    comment = manifest[:manifest.index("nginx.ingress.kubernetes.io/proxy-body-size")].rsplit("\n\n", 1)[-1]
    assert "app/budget.py" in comment.split("proxy-connect-timeout")[-1], comment


def test_dockerignore_keeps_the_image_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", "tests", "**/__pycache__"):
        assert entry in ignored, entry
    assert not any(e in ignored for e in ("app", "optim_core", "pyproject.toml", ".streamlit"))


def test_hosting_note_names_the_commands_it_documents():
    text = (ROOT / "docs" / "hosting.md").read_text()
    for needle in ("python -m deploy.replicas", "disconnectedSessionTTL", "cookieSecret", "SERVERID",
                   "/_stcore/health", "/media"):
        assert needle in text, needle


def test_the_notes_state_the_upload_bounds_the_deployment_uses():
    for name in ("hosting.md", "security.md"):
        text = " ".join((ROOT / "docs" / name).read_text().split())  # one line: sentences wrap
        assert "no upload widget" not in text and "has no uploads" not in text, name
        for needle in (f"{R.UPLOAD_MAX_MB} MiB", f"{R.UPLOADS_PER_MINUTE} PUTs", "/_stcore/upload_file", "DELETE"):
            assert needle in text, (name, needle)
    security = " ".join((ROOT / "docs" / "security.md").read_text().split())
    assert f"{R.UPLOADS_PER_MINUTE} × {R.UPLOAD_MAX_MB} MiB" in security  # the most a client sends a minute
