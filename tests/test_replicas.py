"""Replicas behind HAProxy (deploy/replicas.py), the container recipe and the Kubernetes manifest.

The cluster tests start ``python -m deploy.replicas --replicas 2`` (free ports) as a class would,
speak to it over HTTP and Streamlit's websocket protocol (its protobufs, through the
``websockets`` client Streamlit itself depends on) and stop it with SIGTERM. They need HAProxy
(``apt-get install -y haproxy``): without it they are skipped, and fail under ``CI=true``. The
Dockerfile and manifest tests read the files only (no Docker daemon or cluster is needed).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

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


def test_the_proxy_refuses_uploads_metrics_and_the_agent_api(cluster):
    """Also spelled with percent-escapes: the replica's router decodes them (``%5F`` is ``_``,
    ``%2F`` is ``/``), so the proxy must compare the decoded path."""
    for path in ("/_stcore/upload_file/session/file", "/_stcore/upload%5Ffile/session/file",
                 "/%5Fstcore/upload_file/session/file", "/_stcore%2Fupload_file/session/file"):
        status, headers, _ = cluster.get(path, method="PUT")
        assert status == 403 and "X-Replica" not in headers, path  # refused by HAProxy itself
    for path in ("/_stcore/metrics", "/_stcore/metric%73", "/_stcore/agent/openapi.json", "/_stcore/agen%74/mcp"):
        assert cluster.get(path)[0] == 403, path
    port, _ = cluster.replicas["r1"]  # the replica itself still serves its metrics on loopback
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/_stcore/metrics")
    assert conn.getresponse().status == 200
    conn.close()


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
