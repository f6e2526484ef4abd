"""The playground's API (docs/playground.md): the pure functions of ricci.web.api, the graph
drawing, and the routes of a real server on a free port (headers, limits, errors, static
files, a runaway derivation stopped while the server keeps answering)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import ricci
from ricci.cli import main
from ricci.ir.expr import Tensor
from ricci.ir.program import Program, Statement
from ricci.web import api, server
from ricci.web.gallery import EXAMPLES
from ricci.web.graph import program_graph

from support import web_examples

ROOT = Path(__file__).resolve().parents[2]
MATMUL = "Y[i,j] = X[i,k] * A[k,j]"
QUAD = "L = x[i] * A[i,j] * x[j]"


def rnn(steps: int) -> str:
    """An RNN unrolled over ``steps`` steps with a loss on the last state: its Hessian grows
    fast with ``steps`` (16 steps take over 10 s)."""
    lines = ["s1[h] = tanh(x1[d]*W[d,h] + b[h])"]
    lines += [f"s{t}[h] = tanh(x{t}[d]*W[d,h] + s{t - 1}[g]*U[g,h] + b[h])" for t in range(2, steps + 1)]
    return "\n".join(lines + [f"L = sum[h](s{steps}[h]^2)"])


# ---------------------------------------------------------------- the functions


def test_derive_matmul_in_every_view():
    status, b = api.derive({"program": MATMUL, "wrt": ["X"]})
    assert status == 200 and b["ok"]
    assert (b["syntax"], b["inputs"], b["outputs"], b["wrt"], b["of"], b["kind"]) == (
        "ricci", ["X", "A"], ["Y"], ["X"], "Y", "grad")
    assert b["program"] == {"text": MATMUL, "latex": "Y_{ij} = X_{ik} A_{kj}"}
    assert b["result"]["text"] == "dX[i,k] = dY[i,j] * A[k,j]"
    assert b["result"]["unicode"] == "∂l/∂X_ik = ∂l/∂Y_ij A_kj"
    assert b["matrix"]["text"] == "dX = dY @ A.T"
    assert "A^{T}" in b["matrix"]["latex"]
    assert "delta elimination" in b["steps"]["text"] and b["steps"]["latex"].startswith("\\begin{aligned}")
    assert "dX = dY @ A.T" in b["code"]["numpy"] and "def grad_Y(X, A, dY)" in b["code"]["numpy"]
    assert set(b["code"]) == {"numpy", "torch", "jax", "numba"}
    assert "dX" in b["markdown"]
    doc = b["latex_document"]
    assert doc.startswith("\\documentclass{article}") and "\\usepackage{amsmath}" in doc
    assert doc.rstrip().endswith("\\end{document}") and b["result"]["latex"] in doc
    assert b["warnings"] == [] and 0 <= b["seconds"] < 5
    json.dumps(b)  # all JSON


def test_every_input_by_default_and_the_output_named():
    status, b = api.derive({"program": "Y[i,j] = X[i,k] * A[k,j]\nZ[i] = Y[i,j]", "wrt": [], "of": "Y"})
    assert status == 200 and b["wrt"] == ["X", "A"] and b["of"] == "Y"
    assert b["result"]["text"].splitlines() == ["dX[i,k] = dY[i,j] * A[k,j]", "dA[k,j] = X[i,k] * dY[i,j]"]
    status, b = api.derive({"program": "Y[i,j] = X[i,k] * A[k,j]\nZ[i] = Y[i,j]"})
    assert b["of"] == "Z" and b["outputs"] == ["Z"]


@pytest.mark.parametrize("text, syntax", [
    (r"y_{ij} = x_{ik} a_{kj}", "latex"),
    ("X: [n, d]; w: [d]\nL = sum((X @ w)**2)", "matrix"),
    ("y_i = σ(W_ij x_j)", "unicode"),
    (MATMUL, "ricci"),
])
def test_the_syntax_is_detected_and_reported(text, syntax):
    status, b = api.inspect({"program": text})
    assert status == 200 and b["syntax"] == syntax, b
    status, b = api.inspect({"program": text, "syntax": syntax})
    assert status == 200 and b["syntax"] == syntax


def test_inspect_and_latex_and_matrix_programs_derive():
    status, b = api.inspect({"program": r"y_{ij} = x_{ik} a_{kj}"})
    assert b["inputs"] == ["x", "a"] and b["outputs"] == ["y"] and b["program_latex"] == "y_{ij} = x_{ik} a_{kj}"
    status, b = api.derive({"program": r"y_{ij} = x_{ik} a_{kj}", "wrt": ["x"]})
    assert status == 200 and b["matrix"]["text"] == "dx = dy @ a.T"
    status, b = api.derive({"program": "X: [n, d]; w: [d]\nL = sum((X @ w)**2)", "wrt": ["w"]})
    assert status == 200 and b["syntax"] == "matrix"
    assert b["result"]["text"] == "dw[d] = 2 * X[n,d] * X[n,q] * w[q]"


def test_a_ricci_error_has_its_place_and_caret():
    status, b = api.derive({"program": "Y[i,q] = X[i,k] * A[k,j]"})
    assert status == 422 and b["ok"] is False
    e = b["error"]
    assert (e["line"], e["column"], e["length"]) == (1, 5, 1)
    assert "index 'q'" in e["message"] and e["hint"]
    assert "line 1, column 5" in e["text"] and e["text"].splitlines()[4].strip() == "|     ^".strip()
    status, b = api.derive({"program": "y = x[i]\n z = (", "wrt": ["x"]})
    assert status == 422 and b["error"]["line"] == 2


@pytest.mark.parametrize("kind, text", [
    ("grad", "dx[i] = A[i,j] * x[j] + A[j,i] * x[j]"),
    ("jacobian", "dL/dx[p] = A[i,p] * x[i] + A[p,j] * x[j]"),
    ("hessian", "H[i,j] = A[i,j] + A[j,i]"),
    ("diagonal", "diagH[i] = 2 * A[i,i]"),
    ("hvp", "Hv[i] = (A[i,j] + A[j,i]) * v[j]"),
])
def test_every_kind(kind, text):
    status, b = api.derive({"program": QUAD, "wrt": ["x"], "kind": kind})
    assert status == 200 and b["kind"] == kind and b["result"]["text"] == text


def test_a_hessian_names_at_most_two_inputs():
    status, b = api.derive({"program": "L = x[i] * A[i,j] * y[j]", "kind": "hessian"})
    assert status == 422 and "one input (or two" in b["error"]["message"]
    status, b = api.derive({"program": "L = x[i] * A[i,j] * y[j]", "kind": "hvp"})
    assert status == 422 and "one input" in b["error"]["message"]


def test_warnings_are_collected_per_request():
    status, b = api.derive({"program": "p = v_i * u_i", "syntax": "ricci"})
    assert status == 200 and any("v_i" in w for w in b["warnings"]), b["warnings"]
    status, b = api.derive({"program": MATMUL})
    assert b["warnings"] == []


def test_no_matrix_form_is_said():
    status, b = api.derive({"program": "Y[i,j] = X[i,k] * A[k,j]", "wrt": ["X"], "kind": "jacobian"})
    assert status == 200
    assert "no matrix form (a 4-index tensor" in b["matrix"]["text"] and "einsum" in b["matrix"]["text"]


def test_a_view_ricci_has_not_is_an_error_note_until_the_deadline():
    def none():
        raise ricci.RicciError("no such view")

    assert api._view(none, time.monotonic() + 10) == {"error": "no such view"}
    with pytest.raises(ricci.RicciError):
        api._view(none, time.monotonic() - 1)  # past the deadline: the request fails


@pytest.mark.parametrize("req, message", [
    ([], "JSON object"), ({}, "'program' is required"), ({"program": 3}, "'program' is required"),
    ({"program": MATMUL, "kind": "gradient"}, "'kind' is one of"),
    ({"program": MATMUL, "syntax": "fortran"}, "'syntax' is one of"),
    ({"program": MATMUL, "wrt": [1]}, "'wrt' is a list"), ({"program": MATMUL, "of": 2}, "'of' is null"),
])
def test_bad_fields_are_400(req, message):
    status, b = api.derive(req)
    assert status == 400 and message in b["error"]["message"] and b["error"]["line"] is None


def test_check_compares_with_known_errors():
    status, b = api.check({"program": MATMUL, "wrt": ["X", "A"], "seed": 3})
    assert status == 200 and b["passed"] is True and b["backend"] == "numpy"
    assert [r["wrt"] for r in b["rows"]] == ["X", "A"]
    assert all(r["ok"] and 0 <= r["max_abs_error"] < 1e-6 for r in b["rows"])
    assert "OK" in b["text"] and "check of dY" in b["text"]
    status, b = api.check({"program": QUAD, "wrt": ["x"], "kind": "hessian"})
    assert status == 200 and b["passed"] and "Hessian" in b["text"]
    assert api.check({"program": MATMUL, "seed": -1})[0] == 400
    assert api.check({"program": MATMUL, "seed": True})[0] == 400


def test_health_and_examples():
    status, b = api.health()
    assert status == 200 and b == {"ok": True, "version": ricci.__version__}
    status, b = api.examples()
    ids = [e["id"] for e in b["examples"]]
    assert status == 200 and len(ids) == len(set(ids))
    assert {f"{p.name}" for p in (ROOT / "examples").glob("*.ricci")} <= set(ids)
    assert {e["group"] for e in b["examples"]} == {"gallery", "articles"}
    for e in b["examples"]:
        assert set(e) == {"id", "title", "group", "program", "syntax", "wrt", "of", "kind"} and e["wrt"]
    matmul = next(e for e in b["examples"] if e["id"] == "matmul.ricci")
    assert matmul["wrt"] == ["X", "A"] and matmul["title"].startswith("Matrix multiplication")


def test_the_examples_module_is_current():
    now = web_examples.render()
    assert (ROOT / "src/ricci/web/gallery.py").read_text() == now, (
        "src/ricci/web/gallery.py is stale: run  python tests/support/web_examples.py > src/ricci/web/gallery.py")


def test_the_articles_examples_are_the_articles_programs():
    import test_articles

    programs = {e["program"] for e in EXAMPLES if e["group"] == "articles"}
    assert programs == {test_articles.UP, test_articles.NEURON, test_articles.AFFINE, test_articles.FV,
                        test_articles.BATCH}


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[e["id"] for e in EXAMPLES])
def test_every_example_derives_and_checks(example):
    status, b = api.derive(example)
    assert status == 200, b
    assert b["syntax"] == example["syntax"] and b["wrt"] == example["wrt"] and "error" not in b["steps"]
    status, b = api.check(example)
    assert status == 200 and b["passed"], b["text"]


# ---------------------------------------------------------------- the graph


def test_graph_of_the_rnn():
    example = next(e for e in EXAMPLES if e["id"] == "rnn3.ricci")
    status, b = api.derive(example)
    g = b["graph"]
    assert [(n["id"], n["kind"]) for n in g["nodes"]] == [
        ("x1", "input"), ("W", "input"), ("b", "input"), ("x2", "input"), ("U", "input"), ("x3", "input"),
        ("s1", "statement"), ("s2", "statement"), ("s3", "output")]
    assert sorted(map(tuple, g["edges"])) == sorted([
        ("x1", "s1"), ("W", "s1"), ("b", "s1"), ("x2", "s2"), ("W", "s2"), ("s1", "s2"), ("U", "s2"),
        ("b", "s2"), ("x3", "s3"), ("W", "s3"), ("s2", "s3"), ("U", "s3"), ("b", "s3")])
    assert g["reverse_order"] == ["s3", "s2", "s1", "U", "W", "b"]


def test_graph_of_the_mlp_sweeps_back_from_the_loss():
    example = next(e for e in EXAMPLES if e["id"] == "mlp3.ricci")
    g = api.derive(example)[1]["graph"]
    assert g["reverse_order"] == ["L", "y", "h2", "h1", "W1", "b1", "W2", "b2", "W3", "b3"]
    assert ["h1", "h2"] in g["edges"] and ["t", "L"] in g["edges"]
    assert {n["id"]: n["kind"] for n in g["nodes"]}["L"] == "output"
    # an output other than the last: what does not lead to it is off the sweep
    g = api.derive({**example, "of": "h2", "wrt": ["W1", "W3"]})[1]["graph"]
    assert g["reverse_order"] == ["h2", "h1", "W1"]


def test_the_svg_is_well_formed_self_contained_and_numbered():
    g = api.derive(next(e for e in EXAMPLES if e["id"] == "rnn3.ricci"))[1]["graph"]
    root = ET.fromstring(g["svg"])
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for n in ("x1", "s3", "U"):
        assert n in texts
    assert sorted(t for t in texts if t and t.isdigit()) == [str(k) for k in range(1, 7)]  # 6 on the sweep
    assert "input" in texts and "place in the reverse sweep" in texts
    low = g["svg"].lower()
    assert "<script" not in low and "http://" not in low.replace("http://www.w3.org/2000/svg", "")
    assert "href" not in low and "on" + "load" not in low


def test_the_svg_escapes_names():
    x = "x<&>\"'"
    p = Program([Statement("y</text><script>", (), Tensor(x))], {x: (), "y</text><script>": ()})
    g = program_graph(p, [x], "y</text><script>")
    root = ET.fromstring(g["svg"])
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert x in texts and "y</text><script>" in texts
    assert "<script" not in g["svg"]
    assert g["reverse_order"] == ["y</text><script>", x]


# ---------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def live():
    srv = server.make_server("127.0.0.1", 0, seconds=0.5)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, method: str, path: str, body=None, headers=None, raw: bytes | None = None, timeout=30):
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def test_routes_answer_json_with_the_security_headers(live):
    status, headers, data = request(live, "GET", "/api/health")
    assert status == 200 and json.loads(data) == {"ok": True, "version": ricci.__version__}
    assert headers["Content-Security-Policy"] == server.CSP and "script-src 'self'" in server.CSP
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store" and headers["Content-Type"].startswith("application/json")
    status, headers, data = request(live, "POST", "/api/derive", {"program": MATMUL, "wrt": ["X"]})
    assert status == 200 and json.loads(data)["matrix"]["text"] == "dX = dY @ A.T"
    status, _, data = request(live, "POST", "/api/inspect", {"program": r"y_{ij} = x_{ik} a_{kj}"})
    assert status == 200 and json.loads(data)["syntax"] == "latex"
    status, _, data = request(live, "POST", "/api/check", {"program": MATMUL, "wrt": ["X"]})
    assert status == 200 and json.loads(data)["passed"] is True
    status, _, data = request(live, "GET", "/api/examples")
    assert status == 200 and len(json.loads(data)["examples"]) == len(EXAMPLES)


@pytest.mark.parametrize("method, path, body, status, message", [
    ("GET", "/api/nothing", None, 404, "no such page"),
    ("POST", "/api/nothing", {}, 404, "no such route"),
    ("GET", "/api/derive", None, 405, "takes a POST"),
    ("POST", "/api/health", {}, 405, "takes a GET"),
    ("DELETE", "/api/derive", None, 405, "not allowed"),
    ("POST", "/api/derive", {"program": "Y[i,q] = X[i,k]"}, 422, "index 'q'"),
    ("POST", "/api/derive", {"program": MATMUL, "kind": 3}, 400, "'kind' is one of"),
])
def test_errors_are_json(live, method, path, body, status, message):
    got, headers, data = request(live, method, path, body)
    b = json.loads(data)
    assert got == status and b["ok"] is False and message in b["error"]["message"], b
    assert headers["Content-Security-Policy"] == server.CSP
    assert set(b["error"]) == {"message", "hint", "line", "column", "length", "text"}


def test_bad_json_is_400(live):
    for raw in (b"{not json", b"\xff\xfe", b"[1, 2]", b""):
        status, _, data = request(live, "POST", "/api/derive", raw=raw)
        assert status == 400 and json.loads(data)["ok"] is False


def test_a_body_over_64_kib_is_413_unread(live):
    host, port = live.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("POST", "/api/derive")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(server.MAX_BODY + 1))
    conn.endheaders()  # the body is never sent: the server answers without reading it
    r = conn.getresponse()
    b = json.loads(r.read())
    conn.close()
    assert r.status == 413 and "more than the limit of 65536" in b["error"]["message"]
    program = "y = x[i] * x[i]" + " " * server.MAX_BODY
    status, _, data = request(live, "POST", "/api/derive", raw=json.dumps({"program": program})[:server.MAX_BODY]
                              .encode())
    assert status == 400  # 64 KiB exactly is read (and is cut JSON here)


@pytest.mark.parametrize("path", [
    "/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/static//etc/passwd", "/../../etc/passwd", "/static/%2e%2e/server.py", "/static/../server.py",
    "/static/..\\..\\server.py", "/static/%00", "/etc/passwd",
])
def test_no_path_traversal(live, path):
    status, headers, data = request(live, "GET", path)
    assert status in (400, 404) and b"root:" not in data and b"import" not in data
    assert headers["Content-Type"].startswith("application/json")


def test_static_files_come_from_the_allow_list(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title>")
    (tmp_path / "app.js").write_text("console.log(1)")
    (tmp_path / "katex").mkdir()
    (tmp_path / "katex" / "katex.min.css").write_text("a{}")
    (tmp_path / ".hidden").write_text("secret")
    (tmp_path / "link.txt").symlink_to(ROOT / "pyproject.toml")
    srv = server.make_server("127.0.0.1", 0, static=tmp_path)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    try:
        status, headers, data = request(srv, "GET", "/")
        assert status == 200 and data.startswith(b"<!doctype") and headers["Content-Type"].startswith("text/html")
        assert headers["Content-Security-Policy"] == server.CSP and headers["X-Content-Type-Options"] == "nosniff"
        status, headers, _ = request(srv, "GET", "/static/app.js")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        status, headers, _ = request(srv, "GET", "/static/katex/katex.min.css")
        assert status == 200 and headers["Content-Type"].startswith("text/css")
        (tmp_path / "late.js").write_text("made after startup")
        for path in ("/static/.hidden", "/static/link.txt", "/static/late.js", "/static/katex"):
            assert request(srv, "GET", path)[0] == 404, path
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_missing_page_is_503_and_the_api_still_answers(tmp_path):
    srv = server.make_server("127.0.0.1", 0, static=tmp_path / "none")
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    try:
        status, _, data = request(srv, "GET", "/")
        assert status == 503 and "index.html" in json.loads(data)["error"]["message"]
        assert request(srv, "GET", "/api/health")[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_runaway_derivation_is_stopped_while_the_server_answers(live):
    got: list = []
    t = threading.Thread(target=lambda: got.append(request(live, "POST", "/api/derive",
                                                           {"program": rnn(30), "wrt": ["U"], "kind": "hessian"})))
    started = time.monotonic()
    t.start()
    time.sleep(0.1)
    before = time.monotonic()
    assert request(live, "GET", "/api/health", timeout=5)[0] == 200
    assert time.monotonic() - before < 1.0
    t.join(10)
    status, _, data = got[0]
    b = json.loads(data)
    assert status == 422 and "time limit" in b["error"]["message"], b
    assert time.monotonic() - started < 3


def test_busy_is_503(live):
    live.slots.acquire()
    live.slots.acquire()
    live.wait = 0.05
    try:
        status, headers, data = request(live, "POST", "/api/derive", {"program": MATMUL})
        assert status == 503 and "busy" in json.loads(data)["error"]["message"] and headers["Retry-After"]
        assert request(live, "GET", "/api/health")[0] == 200  # health takes no slot
    finally:
        live.slots.release()
        live.slots.release()
        live.wait = 10.0
    assert request(live, "POST", "/api/derive", {"program": MATMUL})[0] == 200


def test_an_internal_error_leaks_no_traceback(live, monkeypatch, capsys):
    def broken(req, seconds):
        raise ValueError("secret detail /home/user")

    monkeypatch.setitem(server._POST, "/api/inspect", broken)
    status, _, data = request(live, "POST", "/api/inspect", {"program": MATMUL})
    b = json.loads(data)
    assert status == 500 and "internal error" in b["error"]["message"]
    assert b"Traceback" not in data and b"secret" not in data
    # and api's own last line of defence
    monkeypatch.setattr(api, "_read", lambda req: (_ for _ in ()).throw(KeyError("inside")))
    status, b = api.derive({"program": MATMUL})
    assert status == 500 and "KeyError" in b["error"]["message"] and "inside" not in json.dumps(b)


# ---------------------------------------------------------------- ricci serve


def test_serve_refuses_a_port_in_use(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ricci: error: cannot serve on 127.0.0.1:") and err.count("\n") == 1


def test_serve_warns_off_loopback_and_exits_0_on_ctrl_c(monkeypatch, capsys):
    calls = []

    def interrupted(host, port, open_browser=False):
        calls.append((host, port, open_browser))
        raise KeyboardInterrupt

    monkeypatch.setattr(server, "serve", interrupted)
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert capsys.readouterr().err == (
        "ricci: warning: serving on 0.0.0.0: anyone who can reach this machine can use it\n")
    assert main(["serve", "--host", "::1", "--open"]) == 0
    assert capsys.readouterr().err == ""
    assert calls == [("0.0.0.0", 0, False), ("::1", 8000, True)]
    with pytest.raises(SystemExit) as e:
        main(["serve", "--port", "70000"])
    assert e.value.code == 2 and "a port is from 0 to 65535" in capsys.readouterr().err


def test_serve_prints_its_url(monkeypatch, capsys):
    def fake(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(server.PlaygroundServer, "serve_forever", fake)
    server.serve("127.0.0.1", 0)
    out = capsys.readouterr().out
    assert out.startswith("ricci playground: http://127.0.0.1:") and out.endswith("/\n")


@pytest.mark.slow
def test_ricci_serve_in_a_process_answers_and_exits_0_on_ctrl_c():
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    p = subprocess.Popen([sys.executable, "-m", "ricci", "serve", "--port", "0"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        assert line.startswith("ricci playground: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip()
        with urllib.request.urlopen(url + "api/health", timeout=10) as r:
            assert json.loads(r.read())["ok"] is True
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 0 and out == "" and err == ""


def test_long_steps_are_not_shown(monkeypatch):
    monkeypatch.setattr(api, "MAX_STEPS", 5)
    status, b = api.derive({"program": MATMUL, "wrt": ["X"]})
    assert status == 200 and b["result"]["text"] == "dX[i,k] = dY[i,j] * A[k,j]"
    assert b["steps"] == {"error": "the derivation has 10 steps, more than the 5 shown here; the command line "
                                   "prints them all (ricci grad PROGRAM --wrt ... --steps)"}


@pytest.mark.slow
def test_the_time_limit_holds_while_the_steps_are_written():
    """The Hessian of a 40-step RNN is derived in a fraction of a second; its steps would
    take a minute: they are stopped at the deadline."""
    started = time.monotonic()
    status, b = api.derive({"program": rnn(40), "wrt": ["U"], "kind": "hessian"}, seconds=1.0)
    assert status == 422 and "time limit of 1 s" in b["error"]["message"]
    assert time.monotonic() - started < 2.5


def _raw(srv, data: bytes) -> bytes:
    with socket.create_connection(srv.server_address[:2], timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_malformed_requests_are_json_errors(live):
    out = _raw(live, b"GET /" + b"a" * 70000 + b" HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 414") and b"Content-Security-Policy" in out and b'"ok": false' in out
    out = _raw(live, b"GET / HTTP/9.9\r\n\r\n")
    assert b'"ok": false' in out and b"Invalid HTTP version" in out  # (answered as HTTP/0.9: no headers)
    deep = b"[" * 60000 + b"]" * 60000
    out = _raw(live, b"POST /api/derive HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(deep) + deep)
    assert out.startswith(b"HTTP/1.0 413")  # 120 000 bytes: refused unread
    deep = b"[" * 60000
    out = _raw(live, b"POST /api/derive HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(deep) + deep)
    assert out.startswith(b"HTTP/1.0 400") and b"not JSON" in out
    out = _raw(live, b"POST /api/derive HTTP/1.0\r\nContent-Length: abc\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 400") and b"Content-Length" in out
    out = _raw(live, b"POST /api/derive HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 411")
    out = _raw(live, b"HEAD /api/health HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 200") and out.endswith(b"\r\n\r\n")  # headers only


@pytest.mark.slow
def test_the_time_limit_holds_while_a_check_evaluates():
    """A chain of statements (derived at once) on a 6-index input: the finite differences
    evaluate the program 800 times, and are stopped at the deadline. 120 statements take
    about 3.7 s with torch already imported (40 took about 1 s, at the limit itself, once
    the generated code reused its buffers: the check then finished first in the full suite)."""
    prog = "\n".join(["Y0[a,b,c,d,e,f] = X[a,b,c,d,e,f]"]
                     + [f"Y{k}[a,b,c,d,e,f] = tanh(Y{k - 1}[a,b,c,d,e,f]) * X[a,b,c,d,e,f]" for k in range(1, 120)]
                     + ["L = sum[a,b,c,d,e,f](Y119[a,b,c,d,e,f])"])
    started = time.monotonic()
    status, b = api.check({"program": prog, "wrt": ["X"]}, seconds=1.0)
    assert status == 422 and b["error"]["message"] == "checking took longer than the time limit of 1 s"
    assert time.monotonic() - started < 2.5
