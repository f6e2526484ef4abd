"""The playground in a real browser: Debian's Chromium driven by Playwright, against the
real server (``ricci.web.server.make_server``) on a free port.

Each test leaves a screenshot in ``test-artifacts/playground/`` (git-ignored). Without
Playwright or Chromium the tests are skipped, except under ``CI``, where they fail:
CI must run them (``.ci/run`` installs Chromium; the ``test`` extra has Playwright).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "playground"
# Chromium on this machine (and in CI containers) needs the background-networking flags
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MATMUL = "Y[i,j] = X[i,k] * A[k,j]"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def server():
    from ricci.web.server import make_server

    srv = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    host, port = srv.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    executable = _chromium()
    if executable is None:
        _missing("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A page of the playground, with the console errors it logged."""

    def __init__(self, page, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        #: console errors expected (a 422 answer is logged as a failed load: an error shown on purpose)
        self.allowed = ["status of 422"]
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("console", lambda m: self._console(m))

    def _console(self, msg) -> None:
        if msg.type == "error" and not any(a in msg.text for a in self.allowed):
            self.errors.append(f"console: {msg.text}")

    def open(self, url: str | None = None) -> None:
        self.page.goto(url or self.base + "/")
        self.idle()

    def idle(self) -> None:
        # (a selector: wait_for_function would evaluate a string, which the page's CSP forbids)
        self.page.wait_for_selector("body[data-state=idle]", state="attached", timeout=15_000)

    def type_program(self, text: str) -> None:
        self.page.fill("#program", text)
        self.idle()

    def tick(self, name: str) -> None:
        self.page.check(f"#wrt input[value='{name}']")
        self.idle()

    def tab(self, name: str) -> None:
        self.page.click(f"[data-tab={name}]")
        assert self.page.is_visible(f"#panel-{name}")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def annotation(self, selector: str) -> str:
        """The LaTeX that KaTeX typeset in ``selector`` (its MathML annotation)."""
        return self.page.text_content(f"{selector} annotation[encoding='application/x-tex']") or ""

    def no_katex_errors(self) -> None:
        assert self.page.locator(".katex-error").count() == 0


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def pg(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = Page(context.new_page(), server)
    try:
        yield page
        assert page.errors == []
    finally:
        context.close()


def api(base: str, route: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + route, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def derive(base: str, program: str, wrt: list[str], kind: str = "grad") -> dict:
    return api(base, "/api/derive", {"program": program, "syntax": "auto", "wrt": wrt, "of": None, "kind": kind})


def test_the_page_loads_and_typesets_the_default_program(pg, server):
    pg.open()
    page = pg.page
    assert page.title() == "ricci playground"
    assert page.get_attribute("#syntax", "data-syntax") == "ricci"
    assert page.text_content("#syntax") == "ricci"
    assert page.locator("#wrt input[type=checkbox]").count() == 2
    assert page.locator("#program-latex .katex").count() == 1
    assert page.is_visible("#panel-index") and page.is_hidden("#error")
    pg.no_katex_errors()
    pg.shot("index")


def test_matmul_in_every_tab(pg, server):
    pg.open()
    page = pg.page
    pg.type_program(MATMUL)
    pg.tick("X")
    expected = derive(server, MATMUL, ["X"])
    assert expected["ok"]

    assert pg.annotation("#index-latex") == expected["result"]["latex"]

    pg.tab("matrix")
    assert pg.annotation("#matrix-latex") == expected["matrix"]["latex"]
    shown = page.text_content("#matrix-latex .katex-html")
    for part in ("∂", "X", "Y", "A", "T"):
        assert part in shown
    assert "A^{T}" in expected["matrix"]["latex"]
    assert page.text_content("#matrix-text") == "dX = dY @ A.T"
    pg.no_katex_errors()
    pg.shot("matrix")

    pg.tab("steps")
    assert pg.annotation("#steps-latex") == expected["steps"]["latex"]
    steps = page.text_content("#steps-latex .katex-html").replace("\xa0", " ")
    assert "chain rule" in steps and "delta elimination" in steps
    pg.no_katex_errors()
    pg.shot("steps")

    pg.tab("code")
    code = page.text_content("#code-text")
    assert "def grad_" in code and code == expected["code"]["numpy"]
    page.click("#copy-code")
    expect(page.locator("#copy-status")).to_have_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == code
    page.click(".subtabs [data-lang=torch]")
    assert page.text_content("#code-text") == expected["code"]["torch"]
    page.click(".subtabs [data-lang=jax]")
    assert page.text_content("#code-text") == expected["code"]["jax"]
    page.click(".subtabs [data-lang=numpy]")
    pg.shot("code")

    pg.tab("graph")
    assert page.locator("#graph-svg svg").count() == 1
    assert "Y" in page.text_content("#graph-svg svg")
    pg.shot("graph")

    pg.tab("export")
    with page.expect_download() as dl:
        page.click("#export-markdown")
    assert dl.value.suggested_filename.endswith(".md")
    assert Path(dl.value.path()).read_text(encoding="utf-8") == expected["markdown"]
    with page.expect_download() as dl:
        page.click("#export-latex")
    assert dl.value.suggested_filename.endswith(".tex")
    assert Path(dl.value.path()).read_text(encoding="utf-8") == expected["latex_document"]
    pg.shot("export")


def test_the_check_tab_runs_the_check(pg, server):
    pg.open()
    page = pg.page
    pg.type_program(MATMUL)
    pg.tick("X")
    pg.tab("check")
    page.click("#check-run")
    page.wait_for_selector("#check-table tbody tr", timeout=30_000)
    rows = page.locator("#check-table tbody tr")
    assert rows.count() == 1
    row = page.locator("#check-table tr[data-wrt=X]")
    assert row.get_attribute("class") == "ok"
    cells = row.locator("td").all_text_contents()
    assert cells[0] == "X" and float(cells[1]) < 1e-6 and "ok" in cells[2]
    pg.shot("check")


def test_an_error_shows_the_message_the_caret_and_selects_the_place(pg, server):
    pg.open()
    page = pg.page
    bad = "Y[i,j] = X[i,k] * "
    pg.type_program(bad)
    assert page.is_visible("#error")
    expected = api(server, "/api/inspect", {"program": bad, "syntax": "auto"})["error"]
    assert page.text_content("#error-message") == expected["message"]
    assert "^" in page.text_content("#error-text")
    assert "line 1, column 19" in page.text_content("#error-text")
    selection = page.evaluate("[document.querySelector('#program').selectionStart,"
                              " document.querySelector('#program').selectionEnd]")
    assert selection[0] == expected["column"] - 1
    assert "has-error" in (page.get_attribute("#program", "class") or "")
    pg.shot("error")

    # an error on the second line: the selection moves there
    two = "Y[i,j] = X[i,k] * A[k,j]\nZ[i] = Y[i,q"
    pg.type_program(two)
    err = api(server, "/api/inspect", {"program": two, "syntax": "auto"})["error"]
    assert err["line"] == 2
    start = page.evaluate("document.querySelector('#program').selectionStart")
    assert start == len("Y[i,j] = X[i,k] * A[k,j]\n") + err["column"] - 1

    pg.type_program(MATMUL)
    assert page.is_hidden("#error")


def test_an_error_about_the_settings_shows_its_hint(pg, server):
    pg.open()
    page = pg.page
    pg.type_program(MATMUL)
    page.select_option("#kind", "hessian")
    pg.idle()
    assert page.is_visible("#error")
    assert "scalar" in page.text_content("#error-message")
    assert page.is_visible("#error-hint") and "sum" in page.text_content("#error-hint")
    assert "hint" not in page.text_content("#error-text")  # shown once, above
    assert page.is_disabled("#check-run")
    page.select_option("#kind", "jacobian")
    pg.idle()
    assert page.is_hidden("#error") and page.is_enabled("#check-run")


def test_a_shared_link_restores_the_program_and_settings(pg, browser, server):
    pg.open()
    page = pg.page
    program = "Y[i,j] = X[i,k] * A[k,j]\nL = Y[i,j] * Y[i,j]"
    pg.type_program(program)
    pg.tick("X")
    page.select_option("#of", "L")
    pg.idle()
    page.select_option("#kind", "hessian")
    pg.idle()
    pg.tab("steps")
    url = page.url
    assert "kind=hessian" in url and "tab=steps" in url and "wrt=X" in url and "of=L" in url

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = Page(context.new_page(), server)
        other.open(url)
        p2 = other.page
        assert p2.input_value("#program") == program
        assert p2.is_checked("#wrt input[value=X]") and not p2.is_checked("#wrt input[value=A]")
        assert p2.input_value("#kind") == "hessian"
        assert p2.input_value("#of") == "L"
        assert p2.is_visible("#panel-steps") and p2.is_hidden("#panel-index")
        assert p2.get_attribute("[data-tab=steps]", "aria-selected") == "true"
        assert pg.annotation("#index-latex") == other.annotation("#index-latex") != ""
        other.no_katex_errors()
        other.shot("shared-link")

        # another link pasted into the same tab (only the fragment changes)
        p2.goto(server + "/#p=" + urllib.parse.quote("L = x[i] * x[i]") + "&tab=code")
        expect(p2.locator("#program")).to_have_value("L = x[i] * x[i]")
        other.idle()
        assert p2.is_visible("#panel-code") and p2.input_value("#kind") == "grad"
        assert p2.locator("#wrt input:checked").count() == 0
        assert "def grad_L" in p2.text_content("#code-text")
        assert other.errors == []
    finally:
        context.close()


def test_copy_link_copies_the_address(pg, server):
    pg.open()
    pg.tick("A")
    pg.page.click("#copy-link")
    expect(pg.page.locator("#status")).to_have_text("link copied")
    copied = pg.page.evaluate("navigator.clipboard.readText()")
    assert copied == pg.page.url and "wrt=A" in copied


def test_the_examples_menu_loads_a_gallery_example(pg, server):
    pg.open()
    page = pg.page
    examples = api(server, "/api/examples")["examples"]
    gallery = [e for e in examples if e["group"] == "gallery"]
    assert gallery
    page.wait_for_selector("#examples[data-loaded=true]")
    assert page.locator("#examples optgroup").count() == len({e["group"] for e in examples})
    ex = gallery[-1]
    page.select_option("#examples", ex["id"])
    pg.idle()
    assert page.input_value("#program") == ex["program"]
    assert page.is_hidden("#error")
    for name in ex["wrt"]:
        assert page.is_checked(f"#wrt input[value='{name}']")
    assert page.get_attribute("#syntax", "data-syntax") == ex["syntax"]
    pg.no_katex_errors()
    pg.shot("example")


def test_the_latest_edit_wins(pg, server):
    pg.open()
    page = pg.page
    # edits faster than the debounce and than the answers: only the last one is shown
    for text in ("Y[i] = X[i,k] * v[k]", "Y[i,j] = X[i,k] * ", "L = x[i] * x[i]"):
        page.fill("#program", text)
    pg.idle()
    assert page.is_hidden("#error")
    assert page.locator("#wrt input[type=checkbox]").count() == 1
    assert page.is_visible("#wrt input[value=x]")
    latex = derive(server, "L = x[i] * x[i]", [])["result"]["latex"]
    assert pg.annotation("#index-latex") == latex


@pytest.mark.parametrize("program, syntax, shown", [
    (r"Y_{ij} = X_{ik} A_{kj}", "latex", "LaTeX"),
    ("X: [n, d]; w: [d]; L = sum((X @ w)**2)", "matrix", "matrix"),
    ("Y_ij = X_ik A_kj", "unicode", "Unicode"),
])
def test_other_notations_are_detected(pg, server, program, syntax, shown):
    pg.open()
    page = pg.page
    pg.type_program(program)
    assert page.get_attribute("#syntax", "data-syntax") == syntax
    assert page.text_content("#syntax") == shown
    assert page.is_hidden("#error")
    expected = derive(server, program, [])
    assert pg.annotation("#index-latex") == expected["result"]["latex"]
    pg.no_katex_errors()


def test_the_page_is_self_contained():
    """No external URL, no inline script or event handler (the server's CSP forbids them,
    and the playground must work offline); KaTeX's CSS names only fonts that are there."""
    static = ROOT / "src" / "ricci" / "web" / "static"
    for name in ("index.html", "app.js", "style.css"):
        text = (static / name).read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, flags=re.I), name
    html = (static / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    css = (static / "katex" / "katex.min.css").read_text(encoding="utf-8")
    fonts = re.findall(r"url\((fonts/[^)]+)\)", css)
    assert fonts and all((static / "katex" / f).is_file() for f in fonts)
    assert "0.16.22" in (static / "katex" / "README.md").read_text(encoding="utf-8")


def test_the_matrix_view_of_a_whole_program(pg, server):
    """The gallery's affine layer with tanh and a squared error, in matrix notation (its
    screenshot is the one in the README, docs/playground.png)."""
    pg.open()
    page = pg.page
    page.wait_for_selector("#examples[data-loaded=true]")
    page.select_option("#examples", "affine_tanh_mse.ricci")
    pg.idle()
    pg.tab("matrix")
    ex = next(e for e in api(server, "/api/examples")["examples"] if e["id"] == "affine_tanh_mse.ricci")
    expected = derive(server, ex["program"], ex["wrt"])
    assert "latex" in expected["matrix"]
    assert pg.annotation("#matrix-latex") == expected["matrix"]["latex"]
    assert page.text_content("#matrix-text") == expected["matrix"]["text"]
    pg.no_katex_errors()
    pg.shot("matrix-affine-tanh-mse")


def test_a_busy_server_is_asked_again_and_a_gone_one_is_reported(pg, server):
    pg.open()
    page = pg.page
    pg.allowed += ["status of 503", "net::ERR_FAILED"]
    refused = []

    def once_busy(route):
        if not refused:
            refused.append(route.request.url)
            body = {"ok": False, "error": {"message": "too many derivations at once", "hint": "retry",
                                           "line": None, "column": None, "length": None, "text": ""}}
            return route.fulfill(status=503, content_type="application/json", body=json.dumps(body))
        return route.continue_()

    page.route("**/api/derive", once_busy)
    pg.type_program("L = x[i] * x[i]")
    assert refused and page.is_hidden("#error")
    assert page.locator("#wrt input[value=x]").count() == 1
    page.unroute("**/api/derive")

    page.route("**/api/*", lambda route: route.abort())
    pg.type_program("L = x[i] * y[i]")
    assert page.is_visible("#error")
    assert "cannot reach" in page.text_content("#error-message")
