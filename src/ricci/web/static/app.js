// The ricci playground: a program editor that asks the local server (docs/playground.md)
// to inspect and derive as the user types, and shows the result typeset with KaTeX.
// No build step, no framework, no external URL: the page works offline under a strict CSP.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  const TABS = ["index", "matrix", "steps", "code", "check", "graph", "export"];
  const KINDS = ["grad", "jacobian", "hessian", "diagonal", "hvp"];
  const LANGS = ["numpy", "torch", "jax", "numba"];
  const DEBOUNCE_MS = 300;
  const NOTATIONS = { ricci: "ricci", latex: "LaTeX", matrix: "matrix", unicode: "Unicode" };

  const state = {
    program: "",
    wrt: [],        // ticked inputs (empty: every input)
    of: "",         // "" : the last output
    kind: "grad",
    tab: "index",
    lang: "numpy",
    inputs: [],
    outputs: [],
    derivation: null,  // the last successful /api/derive answer for the current program
    error: null,
  };

  let seq = 0;            // the latest update; answers of older ones are ignored
  let controller = null;  // aborts the requests of a superseded update
  let timer = null;
  let lastErrorKey = "";

  const el = {
    program: $("#program"),
    syntax: $("#syntax"),
    wrtList: $("#wrt-list"),
    wrtNote: $("#wrt-note"),
    of: $("#of"),
    kind: $("#kind"),
    examples: $("#examples"),
    status: $("#status"),
    error: $("#error"),
    warnings: $("#warnings"),
  };

  // ---------- helpers ----------

  function setText(node, text) { node.textContent = text == null ? "" : String(text); }

  function typeset(node, latex) {
    node.replaceChildren();
    node.dataset.latex = latex || "";
    if (!latex) return;
    if (window.katex) {
      window.katex.render(latex, node, { throwOnError: false, displayMode: true });
    } else {
      setText(node, latex);  // KaTeX not loaded: the source is still readable
    }
  }

  // The notation the server detected: its display name, and data-syntax its API name.
  function showSyntax(syntax) {
    setText(el.syntax, syntax ? NOTATIONS[syntax] || syntax : "–");
    el.syntax.dataset.syntax = syntax || "";
  }

  function status(text) { setText(el.status, text); }

  async function api(path, body, signal) {
    const init = body === undefined ? { signal } :
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal };
    const resp = await fetch(path, init);
    let data;
    try {
      data = await resp.json();
    } catch (e) {
      data = { ok: false, error: { message: `the server answered ${resp.status} ${resp.statusText}`, text: "" } };
    }
    if (!resp.ok && data.ok !== false) {
      data = { ok: false, error: { message: `the server answered ${resp.status}`, text: "" } };
    }
    if (!resp.ok) data.status = resp.status;
    return data;
  }

  function requestBody() {
    return {
      program: state.program,
      syntax: "auto",
      wrt: state.wrt.slice(),
      of: state.of || null,
      kind: state.kind,
    };
  }

  // ---------- URL state ----------

  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const out = {};
    if (params.has("p")) out.program = params.get("p");
    if (params.has("wrt")) out.wrt = params.get("wrt").split(",").filter(Boolean);
    if (params.has("of")) out.of = params.get("of");
    if (params.has("kind") && KINDS.includes(params.get("kind"))) out.kind = params.get("kind");
    if (params.has("tab") && TABS.includes(params.get("tab"))) out.tab = params.get("tab");
    return out;
  }

  function hashFor() {
    const parts = ["p=" + encodeURIComponent(state.program)];
    if (state.wrt.length) parts.push("wrt=" + state.wrt.map(encodeURIComponent).join(","));
    if (state.of) parts.push("of=" + encodeURIComponent(state.of));
    parts.push("kind=" + state.kind, "tab=" + state.tab);
    return "#" + parts.join("&");
  }

  function writeHash() {
    const url = location.pathname + location.search + hashFor();
    history.replaceState(null, "", url);
  }

  // ---------- controls ----------

  function renderWrt() {
    el.wrtList.replaceChildren();
    for (const name of state.inputs) {
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = name;
      box.checked = state.wrt.includes(name);
      box.addEventListener("change", onWrtChange);
      const span = document.createElement("span");
      span.textContent = name;
      label.append(box, span);
      el.wrtList.append(label);
    }
    el.wrtNote.hidden = state.wrt.length > 0 || state.inputs.length === 0;
  }

  function renderOf() {
    const keep = state.of;
    el.of.replaceChildren();
    const last = document.createElement("option");
    last.value = "";
    last.textContent = state.outputs.length ? `(the last output: ${state.outputs[state.outputs.length - 1]})` :
      "(the last output)";
    el.of.append(last);
    for (const name of state.outputs) {
      const opt = document.createElement("option");
      opt.value = name;
      opt.textContent = name;
      el.of.append(opt);
    }
    el.of.value = state.outputs.includes(keep) ? keep : "";
  }

  function onWrtChange() {
    state.wrt = $$("input[type=checkbox]", el.wrtList).filter((b) => b.checked).map((b) => b.value);
    el.wrtNote.hidden = state.wrt.length > 0 || state.inputs.length === 0;
    writeHash();
    schedule(0);
  }

  // ---------- tabs ----------

  function showTab(tab) {
    if (!TABS.includes(tab)) tab = "index";
    state.tab = tab;
    for (const b of $$(".tabs [data-tab]")) {
      const on = b.dataset.tab === tab;
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.classList.toggle("active", on);
    }
    for (const p of $$(".panel")) p.hidden = p.dataset.panel !== tab;
    writeHash();
  }

  function showLang(lang) {
    state.lang = LANGS.includes(lang) ? lang : "numpy";
    for (const b of $$(".subtabs [data-lang]")) b.setAttribute("aria-pressed", b.dataset.lang === state.lang);
    const code = state.derivation && state.derivation.code ? state.derivation.code[state.lang] : "";
    setText($("#code-text"), code || "");
    setText($("#copy-status"), "");
  }

  // ---------- errors ----------

  // Offset in the textarea's value of a 1-based line and column (columns count characters,
  // as Python does; JavaScript strings count UTF-16 units).
  function offsetOf(text, line, column) {
    const lines = text.split("\n");
    let off = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) off += lines[i].length + 1;
    const cur = Array.from(lines[Math.min(line - 1, lines.length - 1)] || "");
    return off + cur.slice(0, Math.max(0, column - 1)).join("").length;
  }

  function selectError(err, focus) {
    if (!err || err.line == null || err.column == null) return;
    const text = el.program.value;
    const start = Math.min(offsetOf(text, err.line, err.column), text.length);
    const len = err.length == null ? 1 : err.length;
    const end = Math.min(start + Array.from(text.slice(start)).slice(0, len).join("").length, text.length);
    if (focus) el.program.focus();
    el.program.setSelectionRange(start, end);
  }

  function showError(err) {
    state.error = err;
    if (!err) {
      el.error.hidden = true;
      el.program.classList.remove("has-error");
      lastErrorKey = "";
      return;
    }
    el.error.hidden = false;
    el.program.classList.add("has-error");
    setText($("#error-message"), err.message || "error");
    const hint = $("#error-hint");
    hint.hidden = !err.hint;
    setText(hint, err.hint ? "hint: " + err.hint : "");
    // The full text repeats the message and the hint shown above: keep the place and caret.
    const rest = (err.text || "").split("\n").filter((l) => l !== err.message && !(err.hint && l === "hint: " + err.hint));
    setText($("#error-text"), rest.join("\n").replace(/^\n+|\s+$/g, ""));
    $("#error-goto").hidden = err.line == null;
    // Move the selection to a new error (not again while the same error stays).
    const key = `${err.message}|${err.line}|${err.column}`;
    if (key !== lastErrorKey) {
      lastErrorKey = key;
      selectError(err, false);
    }
  }

  function showWarnings(list) {
    el.warnings.replaceChildren();
    for (const w of list || []) {
      const li = document.createElement("li");
      li.textContent = w;
      el.warnings.append(li);
    }
    el.warnings.hidden = !(list && list.length);
  }

  // ---------- output ----------

  function clearCheck() {
    $("#check-table").hidden = true;
    $("#check-table tbody").replaceChildren();
    $("#check-text").hidden = true;
    setText($("#check-status"), "");
    $("#check-status").className = "status";
  }

  function renderDerivation(d) {
    state.derivation = d;
    typeset($("#index-latex"), d.result && d.result.latex);
    setText($("#index-text"), d.result && d.result.text);

    const m = d.matrix || {};
    typeset($("#matrix-latex"), m.latex || "");
    setText($("#matrix-text"), m.text || "");
    $("#matrix-reason").hidden = !m.error;
    setText($("#matrix-reason"), m.error ? "No matrix form: " + m.error : "");

    const s = d.steps || {};
    typeset($("#steps-latex"), s.latex || "");
    $("#steps-reason").hidden = !s.error;
    setText($("#steps-reason"), s.error ? "No steps: " + s.error : "");

    showLang(state.lang);

    const g = d.graph || {};
    // The SVG is generated by the server from the program, with every name escaped.
    $("#graph-svg").innerHTML = g.svg || "";
    setText($("#graph-order"), (g.reverse_order || []).join(" → "));

    setText($("#export-preview"), d.markdown || "");
    for (const id of ["#check-run", "#export-markdown", "#export-latex", "#copy-code"]) $(id).disabled = false;
    $(".output").classList.remove("stale");
  }

  function disableOutput() {
    state.derivation = null;
    for (const id of ["#check-run", "#export-markdown", "#export-latex", "#copy-code"]) $(id).disabled = true;
    $(".output").classList.add("stale");  // what is shown is the last program that worked
  }

  // ---------- the update cycle ----------

  // document.body.dataset.state: "pending" (an update is due or under way) or "idle"
  // (what is shown answers the program in the editor); the browser tests wait on it.
  function busy(on) { document.body.dataset.state = on ? "pending" : "idle"; }

  function schedule(delay) {
    clearTimeout(timer);
    busy(true);
    timer = setTimeout(update, delay == null ? DEBOUNCE_MS : delay);
  }

  // A 503 (too many derivations at once): try again in a second.
  function busyServer(answer) {
    if (answer.ok || answer.status !== 503) return false;
    status("the server is busy: trying again…");
    schedule(1000);
    return true;
  }

  async function update() {
    const mine = ++seq;
    timer = null;
    busy(true);
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    state.program = el.program.value;
    writeHash();
    clearCheck();
    status("working…");
    try {
      const info = await api("/api/inspect", { program: state.program, syntax: "auto" }, signal);
      if (mine !== seq) return;
      if (busyServer(info)) return;
      if (!info.ok) {
        showSyntax("");
        typeset($("#program-latex"), "");
        showWarnings([]);
        disableOutput();
        showError(info.error);
        status("");
        return;
      }
      showSyntax(info.syntax);
      state.inputs = info.inputs || [];
      state.outputs = info.outputs || [];
      const wrt = state.wrt.filter((n) => state.inputs.includes(n));
      if (wrt.length !== state.wrt.length) state.wrt = wrt;
      if (state.of && !state.outputs.includes(state.of)) state.of = "";
      renderWrt();
      renderOf();
      writeHash();
      typeset($("#program-latex"), info.program_latex);

      const d = await api("/api/derive", requestBody(), signal);
      if (mine !== seq) return;
      if (busyServer(d)) return;
      if (!d.ok) {
        disableOutput();
        showWarnings(info.warnings);
        showError(d.error);
        status("");
        return;
      }
      showError(null);
      showWarnings(d.warnings);
      if (d.syntax) showSyntax(d.syntax);
      renderDerivation(d);
      status(typeof d.seconds === "number" ? `derived in ${(d.seconds * 1000).toFixed(0)} ms` : "");
    } catch (e) {
      if (e.name === "AbortError" || mine !== seq) return;
      showError({ message: "cannot reach the ricci server (is `ricci serve` still running?)", text: String(e) });
      status("");
    } finally {
      if (mine === seq && timer === null) busy(false);
    }
  }

  // ---------- check ----------

  async function runCheck() {
    const mine = seq;
    const btn = $("#check-run");
    btn.disabled = true;
    clearCheck();
    setText($("#check-status"), "checking…");
    try {
      const r = await api("/api/check", Object.assign(requestBody(), { seed: 0 }));
      if (mine !== seq) return;  // the program changed meanwhile
      if (!r.ok) {
        setText($("#check-status"), "");
        const t = $("#check-text");
        t.hidden = false;
        setText(t, r.error ? (r.error.text || r.error.message) : "the check failed");
        return;
      }
      const body = $("#check-table tbody");
      for (const row of r.rows || []) {
        const tr = document.createElement("tr");
        tr.dataset.wrt = row.wrt;
        tr.className = row.ok ? "ok" : "bad";
        const err = typeof row.max_abs_error === "number" ? row.max_abs_error.toExponential(2) : String(row.max_abs_error);
        for (const [text, cls] of [[row.wrt, "name"], [err, "num"], [row.ok ? "✓ ok" : "✗ failed", "verdict"]]) {
          const td = document.createElement("td");
          td.textContent = text;
          td.className = cls;
          tr.append(td);
        }
        body.append(tr);
      }
      $("#check-table").hidden = false;
      const t = $("#check-text");
      t.hidden = !r.text;
      setText(t, r.text || "");
      setText($("#check-status"), r.passed ? `passed (${r.backend || "numpy"})` : "FAILED");
      $("#check-status").className = "status " + (r.passed ? "good" : "bad");
    } catch (e) {
      setText($("#check-status"), "cannot reach the server: " + e);
    } finally {
      btn.disabled = !state.derivation;
    }
  }

  // ---------- clipboard and downloads ----------

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) {
        // fall through to the old way (permission denied, document not focused)
      }
    }
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    ta.remove();
    return ok;
  }

  function download(filename, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function baseName() {
    const d = state.derivation;
    const of = d && d.of ? d.of : "program";
    return `ricci-${state.kind}-${of}`.replace(/[^A-Za-z0-9_-]+/g, "_");
  }

  // ---------- examples ----------

  async function loadExamples() {
    try {
      const r = await api("/api/examples");
      const groups = { gallery: "Gallery", articles: "Articles" };
      const byGroup = {};
      for (const ex of r.examples || []) (byGroup[ex.group] = byGroup[ex.group] || []).push(ex);
      state.examples = {};
      for (const g of Object.keys(byGroup)) {
        const og = document.createElement("optgroup");
        og.label = groups[g] || g;
        for (const ex of byGroup[g]) {
          state.examples[ex.id] = ex;
          const opt = document.createElement("option");
          opt.value = ex.id;
          opt.textContent = ex.title;
          og.append(opt);
        }
        el.examples.append(og);
      }
      el.examples.dataset.loaded = "true";
    } catch (e) {
      el.examples.disabled = true;
    }
  }

  function loadExample(id) {
    const ex = state.examples && state.examples[id];
    if (!ex) return;
    el.program.value = ex.program;
    state.wrt = (ex.wrt || []).slice();
    state.of = ex.of || "";
    state.kind = KINDS.includes(ex.kind) ? ex.kind : "grad";
    el.kind.value = state.kind;
    lastErrorKey = "";
    schedule(0);
  }

  // ---------- wiring ----------

  function init() {
    const h = readHash();
    if (h.program != null) el.program.value = h.program;
    state.program = el.program.value;
    state.wrt = h.wrt || [];
    state.of = h.of || "";
    state.kind = h.kind || "grad";
    el.kind.value = state.kind;

    el.program.addEventListener("input", () => schedule());
    el.program.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {  // Ctrl+Enter: now, without the debounce
        e.preventDefault();
        schedule(0);
      }
    });
    el.of.addEventListener("change", () => { state.of = el.of.value; writeHash(); schedule(0); });
    el.kind.addEventListener("change", () => { state.kind = el.kind.value; writeHash(); schedule(0); });
    el.examples.addEventListener("change", () => { loadExample(el.examples.value); });
    for (const b of $$(".tabs [data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
    for (const b of $$(".subtabs [data-lang]")) b.addEventListener("click", () => showLang(b.dataset.lang));
    $("#error-goto").addEventListener("click", () => selectError(state.error, true));
    $("#check-run").addEventListener("click", runCheck);
    $("#copy-code").addEventListener("click", async () => {
      const ok = await copyText($("#code-text").textContent);
      setText($("#copy-status"), ok ? "copied" : "select the code and copy it by hand");
    });
    $("#copy-link").addEventListener("click", async () => {
      writeHash();
      const ok = await copyText(location.href);
      status(ok ? "link copied" : "copy the address bar by hand");
    });
    $("#export-markdown").addEventListener("click", () => {
      if (state.derivation) download(baseName() + ".md", state.derivation.markdown || "", "text/markdown");
    });
    $("#export-latex").addEventListener("click", () => {
      if (state.derivation) download(baseName() + ".tex", state.derivation.latex_document || "", "application/x-tex");
    });
    window.addEventListener("hashchange", () => {
      const n = readHash();
      // a link pasted into this tab: everything it does not say is the default
      if (n.program != null && n.program !== el.program.value) el.program.value = n.program;
      state.wrt = n.wrt || [];
      state.of = n.of || "";
      state.kind = n.kind || "grad";
      el.kind.value = state.kind;
      showTab(n.tab || "index");
      lastErrorKey = "";
      schedule(0);
    });

    disableOutput();
    showTab(h.tab || "index");
    api("/api/health").then((r) => { if (r && r.version) setText($("#version"), "ricci " + r.version); })
      .catch(() => {});
    loadExamples();
    update();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
