"""The playground's server under load: 200 requests from 8 client threads at once, mixing
every route with bad requests and runaway derivations. Every answer is right (200 with the
expected content) or a clear refusal (4xx or 503 with an error message); the server still
answers health within a second afterwards, and the whole run stays bounded."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_api import MATMUL, QUAD, rnn

from ricci.web import api, server

pytestmark = pytest.mark.slow

LATEX = r"y_{ij} = x_{ik} a_{kj}"


def _call(srv, method: str, path: str, body: object = None, raw: bytes | None = None):
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


# (method, path, body or raw bytes, check of a 200 answer, the status of a refusal)
def _cases():
    def derived(b):
        return b["matrix"]["text"] == "dX = dY @ A.T" and b["result"]["text"] == "dX[i,k] = dY[i,j] * A[k,j]"

    return [
        ("POST", "/api/derive", {"program": MATMUL, "wrt": ["X"]}, derived, 422),
        ("POST", "/api/derive", {"program": QUAD, "wrt": ["x"], "kind": "hessian"},
         lambda b: b["result"]["text"] == "H[i,j] = A[i,j] + A[j,i]", 422),
        ("POST", "/api/check", {"program": MATMUL, "wrt": ["X", "A"], "seed": 1},
         lambda b: b["passed"] and all(r["max_abs_error"] < 1e-6 for r in b["rows"]), 422),
        ("POST", "/api/inspect", {"program": LATEX}, lambda b: b["syntax"] == "latex" and b["inputs"] == ["x", "a"],
         422),
        ("GET", "/api/examples", None, lambda b: len(b["examples"]) == len(api.examples()[1]["examples"]), 0),
        ("GET", "/api/health", None, lambda b: b["ok"] is True, 0),
        ("POST", "/api/derive", b"{oops", None, 400),
        ("POST", "/api/derive", {"program": "Y[i,q] = X[i,k]"}, None, 422),
        ("GET", "/static/../../etc/passwd", None, None, 404),
    ]


RUNAWAY = ("POST", "/api/derive", {"program": rnn(30), "wrt": ["U"], "kind": "hessian"}, None, 422)


def test_two_hundred_requests_from_eight_threads():
    srv = server.make_server("127.0.0.1", 0, seconds=0.5)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    cases = _cases()
    plan = [RUNAWAY if k % 20 == 7 else cases[k % len(cases)] for k in range(200)]
    problems: list[str] = []
    statuses: list[int] = []

    def one(case) -> None:
        method, path, body, ok, refusal = case
        raw = body if isinstance(body, bytes) else None
        status, b = _call(srv, method, path, None if raw is not None else body, raw)
        statuses.append(status)
        if status == 200:
            if ok is None or not ok(b):
                problems.append(f"{path} {str(body)[:40]}: a wrong 200 answer {str(b)[:200]}")
        elif status == refusal or status == 503:
            if b.get("ok") is not False or not b["error"]["message"]:
                problems.append(f"{path}: a refusal without a message: {b}")
            if case is RUNAWAY and status == 422 and "time limit" not in b["error"]["message"]:
                problems.append(f"a runaway stopped for another reason: {b['error']['message']}")
        else:
            problems.append(f"{path} {str(body)[:40]}: status {status}: {b}")

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, plan))
        took = time.monotonic() - started
        before = time.monotonic()
        status, b = _call(srv, "GET", "/api/health")
        assert status == 200 and b["ok"] and time.monotonic() - before < 1.0
        status, b = _call(srv, "POST", "/api/derive", {"program": MATMUL, "wrt": ["X"]})
        assert status == 200 and b["matrix"]["text"] == "dX = dY @ A.T"
    finally:
        srv.shutdown()
        srv.server_close()
    assert not problems, "\n".join(problems[:10])
    assert len(statuses) == 200 and statuses.count(200) >= 100, sorted(set(statuses))
    assert took < 120
