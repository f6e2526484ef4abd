"""The fast tier of the fuzzers (tests/fuzz, docs/reliability.md): seeded and deterministic.

* parser fuzzing: the edge cases and a few thousand grammar-generated, mutated and
  generated inputs in both syntaxes (every parse, round trip, printing and gradient
  invariant of :mod:`fuzz.parsecheck`), in worker processes with a watchdog;
* differential testing: a few hundred generated programs, each derived by ricci (one kind
  of derivative and one backend per program, in rotation), compiled, run and compared with
  torch autograd on an independent torch translation (:mod:`fuzz.oracle`);
* the known bugs as generated cases, the reducers, the generator's determinism;
* the command line over a sample of the corpus: only ``ricci: error:`` on stderr.

A failure prints the shrunk reproducer. The long modes: ``python -m tests.fuzz --inputs
200000 --programs 100000``. Slow tests (``-m slow``): coverage of the generator and the
mutation check.
"""

from __future__ import annotations

import os
import threading
import warnings

import pytest

from fuzz import clicheck, differential, parsecheck, reduce, runner
from fuzz.corpus import corpus
from fuzz.programs import (
    Add,
    Call,
    MatScalar,
    Model,
    Mul,
    Neg,
    Num,
    Ref,
    SizeN,
    Stable,
    Stmt,
    SumN,
    generate,
)
from fuzz.textgen import edge_cases

pytestmark = pytest.mark.xdist_group("fuzz")  # the pools are shared by every test here

SEED = "ci"
PARSE_ITEMS = 2000
PARSE_CHUNK = 100
DIFF_ITEMS = 160


def _pool(mode: str, timeout: float) -> runner.Pool:
    opt = runner.Options(mode, seed=SEED, timeout=timeout, reduce_calls=100, reduce_seconds=8.0,
                         grad_max_chars=20_000)
    return runner.Pool(opt, jobs=2, chunk=25 if mode == "parse" else 4)


def _wanted(session: pytest.Session) -> dict[str, set[int]]:
    """The items the selected tests look at (all of them in a full run; one chunk or one
    program for ``-k``, ``--deselect`` or a single test id)."""
    out: dict[str, set[int]] = {"parse": set(), "diff": set()}
    for item in session.items:
        if item.module is None or item.module.__name__ != __name__:
            continue
        name = getattr(item, "originalname", item.name)
        params = getattr(item, "callspec", None)
        if name == "test_parser_fuzz" and params is not None:
            c = params.params["chunk"]
            out["parse"].update(range(c * PARSE_CHUNK, (c + 1) * PARSE_CHUNK))
        elif name == "test_parser_fuzz_reaches_every_family":
            out["parse"].update(range(PARSE_ITEMS))
        elif name == "test_derivatives_match_torch" and params is not None:
            out["diff"].add(params.params["idx"])
        elif name == "test_differential_fuzz_reaches_the_language":
            out["diff"].update(range(DIFF_ITEMS))
    return out


@pytest.fixture(scope="session")
def records(request: pytest.FixtureRequest) -> dict[str, dict[int, dict]]:
    """Both fuzzers' records for the selected tests, the two pools running at the same
    time (their start-up and their last items overlap)."""
    out: dict[str, dict[int, dict]] = {"parse": {}, "diff": {}}
    wanted = _wanted(request.session)
    errors: list[BaseException] = []

    def go(mode: str, timeout: float) -> None:
        if not wanted[mode]:
            return
        try:
            _pool(mode, timeout).run(sorted(wanted[mode]), lambda rec: out[mode].__setitem__(rec["idx"], rec))
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            errors.append(e)

    t = threading.Thread(target=go, args=("diff", 90.0))
    t.start()
    go("parse", 20.0)
    t.join()
    if errors:
        raise errors[0]
    return out


@pytest.fixture(scope="session")
def parse_records(records) -> dict[int, dict]:
    return records["parse"]


@pytest.fixture(scope="session")
def diff_records(records) -> dict[int, dict]:
    return records["diff"]


def _report(findings: list[dict]) -> str:
    out = []
    for f in findings:
        shown = f.get("reduced", f.get("input", ""))
        out.append(f"[{f['signature']}]\n{f['message'][:1500]}\nreproducer{' (reduced)' if 'reduced' in f else ''}:\n"
                   f"{ascii(shown)[:3000] if '# kind=' not in shown else shown[:3000]}")
        if "reproducer" in f:
            out.append(f["reproducer"])
    return "\n\n".join(out)


def _gross(f: dict, rec: dict) -> bool:
    """A finding the fast tier fails on: anything but a parse a little slower than the
    budget (the long modes report those)."""
    if f["invariant"] != "slow":
        return True
    return f.get("seconds", 0.0) > parsecheck.GROSS.limit(rec.get("chars", 0))


# ---------------------------------------------------------------- parsers


@pytest.mark.parametrize("chunk", range(PARSE_ITEMS // PARSE_CHUNK))
def test_parser_fuzz(parse_records, chunk):
    """Every input: parse returns a Program or raises RicciError with a span inside the
    text, fast; accepted programs round-trip, print, read back from LaTeX and differentiate."""
    idx = range(chunk * PARSE_CHUNK, (chunk + 1) * PARSE_CHUNK)
    missing = [i for i in idx if i not in parse_records]
    assert not missing, f"items never ran: {missing[:10]}"
    bad = [f for i in idx for f in parse_records[i]["findings"] if _gross(f, parse_records[i])]
    assert not bad, "\n" + _report(bad)


def test_parser_fuzz_reaches_every_family(parse_records):
    fams = {r["family"] for r in parse_records.values()}
    assert fams == {"edge", *runner.FAMILIES}
    accepted = {syn: sum(r["results"].get(syn) == "accepted" for r in parse_records.values())
                for syn in parsecheck.SYNTAXES}
    # the round-trip invariants need accepted programs in both syntaxes
    assert accepted["ricci"] > PARSE_ITEMS // 5 and accepted["latex"] > PARSE_ITEMS // 10, accepted


# ---------------------------------------------------------------- derivatives


@pytest.mark.parametrize("idx", range(DIFF_ITEMS))
def test_derivatives_match_torch(diff_records, idx):
    """ricci's compiled derivative (kind and backend in rotation) equals torch autograd on
    the independent torch translation of the generated program."""
    rec = diff_records.get(idx)
    assert rec is not None, "the item never ran"
    assert not rec["findings"], "\n" + _report(rec["findings"])


def test_differential_fuzz_reaches_the_language(diff_records):
    """The generator reaches every construct, kind and backend (and most programs check)."""
    tags = set().union(*(r.get("tags", ()) for r in diff_records.values()))
    want = {"exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "softplus", "step",
            "sign", "log1p", "expm1", "erf", "atan", "inv", "det", "logdet", "trace", "delta", "size", "sum", "contraction", "division", "broadcast",
            "pow-int", "pow-real", "pow-negint", "pow-tensor", "pow-size", "dead", "of-earlier",
            "gram-statement", "mixed-hessian"}
    assert want <= tags, sorted(want - tags)
    assert any(t.startswith("split-") and t.endswith("-large") for t in tags)
    pairs = {(r["kind"], r["backend"]) for r in diff_records.values()}
    assert len(pairs) == 15, sorted(pairs)
    ok = sum(r["status"] == "ok" for r in diff_records.values())
    assert ok > DIFF_ITEMS * 0.7, ok


# ---------------------------------------------------------------- the known bugs, as generated cases


def _r(name: str, *letters: str) -> Ref:
    return Ref(tuple(dict.fromkeys(x for x in letters if letters.count(x) == 1)), name, letters)


def _known_cases() -> dict[str, Model]:
    j = ("j",)
    a = Model(tensors={"a": (0,), "b": (0,), "v": (0,), "w": (), "t": (0,), "y": (0,), "L": ()},
              inputs={"a": "normal", "b": "normal", "v": "normal", "w": "normal"}, of="L", kind="grad",
              wrt=("b", "v", "w"), seed=7)
    tanh = Call(j, "tanh", Mul(j, [_r("v", "j"), _r("w")], [False, False]))
    a.statements = [
        Stmt("t", j, Mul(j, [_r("a", "j"), _r("b", "j")], [False, False]), {"j": 0}),
        Stmt("y", j, Add(j, [Add(j, [Neg(j, tanh), Num((), "1")], [1, 1]), _r("t", "j")], [1, -1]), {"j": 0}),
        Stmt("L", (), Mul((), [Ref(j, "y", j), Ref(j, "t", j)], [False, False]), {"j": 0}),
    ]
    nk, n = ("n", "k"), ("n",)
    z = Ref(nk, "Z", nk)
    b = Model(tensors={"Z": (0, 1), "T": (0, 1), "E": (0, 1), "S": (0,), "L": ()},
              inputs={"Z": "logits", "T": "normal"}, of="L", kind="grad", wrt=("Z",), seed=8,
              logit_center=1000.0)
    logp = Call(nk, "log", Mul(nk, [Ref(nk, "E", nk), Ref(n, "S", n)], [False, True]),
                stable=Stable("log_softmax", z, ("k",)))
    b.statements = [
        Stmt("E", nk, Call(nk, "exp", z), {"n": 0, "k": 1}),
        Stmt("S", n, SumN(n, ("k",), Ref(nk, "E", nk)), {"n": 0, "k": 1}),
        Stmt("L", (), Neg((), SumN((), nk, Mul(nk, [Ref(nk, "T", nk), logp], [False, False]))), {"n": 0, "k": 1}),
    ]
    c = Model(tensors={"K": (0, 0), "x": (1,), "T1": (), "L": ()}, inputs={"K": "spd", "x": "normal"},
              of="L", kind="grad", wrt=("x",), seed=9)
    c.statements = [Stmt("T1", (), MatScalar((), "logdet", "K"), {}),
                    Stmt("L", (), Ref((), "x", ("i",)), {"i": 1})]
    d = Model(tensors={"K": (0, 0), "F": (1,), "L": ()}, inputs={"K": "spd", "F": "normal"}, of="L",
              kind="grad", wrt=("K",), seed=10)
    d.statements = [Stmt("L", (), SumN((), ("j", "m"), Mul(j, [MatScalar((), "det", "K"), Ref(j, "F", j)],
                                                                [False, False])), {"j": 1, "m": 2})]
    p = ("p",)
    e = Model(tensors={"x": (0,), "L": ()}, inputs={"x": "normal"}, of="L", kind="grad", wrt=("x",),
              seed=11)
    e.statements = [Stmt("L", (), SumN((), p, Mul(p, [Ref(p, "x", p), Call((), "step", SizeN((), "p"))],
                                                  [False, False])), {"p": 0})]
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


KNOWN = _known_cases()


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("bug", sorted(KNOWN))
def test_known_bugs_as_generated_cases(bug, backend):
    """(a) a wrong gradient through (-tanh(v*w) + 1) - t; (b) the split softmax at logits
    near 1000; (c) a dead logdet statement; (d) sum[j,m](det(K) * F[j]); (e) step(size(p))."""
    import jax

    jax.config.update("jax_enable_x64", True)
    m = KNOWN[bug]
    m.backend = backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = differential.run(m, check_latex=False)
    assert r.status == "ok", f"\n{m.describe()}\n{r.status}: {r.message}\n{runner.reproducer(m)}"


# ---------------------------------------------------------------- the tools themselves


def test_generation_is_deterministic():
    for k in range(20):
        assert generate(k).describe() == generate(k).describe()
        assert runner.parse_input(SEED, k + 500) == runner.parse_input(SEED, k + 500)


def test_the_oracle_is_not_ricci():
    """The oracle and the programs it translates do not import ricci (their independence
    is the point)."""
    import ast
    from pathlib import Path

    import fuzz.oracle
    import fuzz.programs

    for mod in (fuzz.oracle, fuzz.programs):
        tree = ast.parse(Path(mod.__file__).read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.startswith("ricci") for m in imported), (mod.__name__, imported)


def test_reducers_shrink_to_the_failure():
    text = "y = 1\nz[i] = x[i] * 2 + q[i]\nw = (((a)))\nbad = zz + 1\nok = 3"
    small = reduce.reduce_text(text, lambda t: "zz" in t)
    assert small == "zz", small
    m = generate("reduce-me")
    while not any(isinstance(n, Call) for s in m.statements for n in _walk(s.rhs)):
        m = generate(m.seed)

    def has_call(c: Model) -> bool:
        return any(isinstance(n, Call) for s in c.statements for n in _walk(s.rhs))

    shrunk = reduce.reduce_model(m, has_call)
    assert has_call(shrunk) and reduce.node_count(shrunk) <= 4, shrunk.describe()


def _walk(n):
    from fuzz.programs import walk

    return walk(n)


def test_the_parse_invariants_can_fail():
    """The checker flags what it should (a span outside the text, a crash)."""
    import ricci

    err = ricci.RicciError("x", span=ricci.errors.Span(9, 1), source="y = x")
    assert parsecheck.check_span("y = x", err, "ricci").invariant == "span"
    assert not parsecheck.check("y[i] = x[i] * 2").findings
    assert parsecheck.alpha_text(ricci.parse("y[i] = μ[i]")) == parsecheck.alpha_text(ricci.parse("y[i] = mu[i]"))


# ---------------------------------------------------------------- the command line


def _cli_texts() -> list[str]:
    pool = list(corpus())
    edges = [t for _, t in edge_cases() if len(t) < 2000]
    return pool[:: max(1, len(pool) // 40)][:40] + edges[::4]


def test_cli_over_the_corpus():
    """``ricci parse / grad / check / hessian`` in process: exit 0, 1 or 2, and nothing but
    ``ricci: error: ...`` (and its caret block) on stderr."""
    bad = []
    for argv in clicheck.cases(_cli_texts()):
        code, _, err = clicheck.run_in_process(argv)
        for p in clicheck.problems(code, err):
            bad.append(f"{p}: ricci {' '.join(ascii(a)[:200] for a in argv)}\n{err[-1500:]}")
    assert not bad, "\n\n".join(bad[:10])


def test_cli_subprocess():
    """A few of them through ``python -m ricci``, as a user runs them."""
    argvs = [["parse", "y = 1e99999999999999999999"], ["grad", "L = x[i]*A[i,j]*x[j]", "--wrt", "x"],
             ["check", "Y[i,j] = X[i,k] * A[k,j]", "--wrt", "X", "--sizes", "i=-1"],
             ["grad", "y = " + "(" * 300 + "x" + ")" * 300, "--wrt", "x"]]
    for argv in argvs:
        code, _, err = clicheck.run_subprocess(argv)
        assert not clicheck.problems(code, err), (argv[:2], code, err[-2000:])


# ---------------------------------------------------------------- slow: coverage, mutants


@pytest.mark.slow
def test_generator_coverage():
    """Under coverage.py: every derivative rule that can fire, every function's derivative
    and the main code generation paths are reached by a few hundred programs."""
    pytest.importorskip("coverage")
    from fuzz import coverage_map

    parts = []
    for mode, n in (("diff", 300), ("parse", 600)):
        opt = runner.Options(mode, seed="coverage", timeout=120.0, reduce=False, coverage=True)
        pool = runner.Pool(opt, jobs=2)
        pool.run(range(n), lambda rec: None)
        parts += pool.coverage
    rep = coverage_map.analyse(coverage_map.merge(parts))
    never = {t: [k for k, v in e.items() if v is not None and not v] for t, e in rep.items()}
    assert all(rep["function derivatives"].values()), coverage_map.table(rep)
    assert all(rep["matrix-function derivatives"].values()), coverage_map.table(rep)
    # constants, sizes and deltas never reach their rule: the engine differentiates only the
    # children that mention X (the step view shows such zeros; the fuzzers run the engine)
    assert [k for k in never["derivative rules"] if "_d_zero" not in k] == [], coverage_map.table(rep)
    main_paths = ["matrix product (a @ b, a.T @ b)", "tensordot", "pairwise einsum", "solve instead of inv",
                  "fused backward kernel", "max (stable softmax)", "elementwise product (a * b)"]
    assert all(rep["code generation paths"][p] for p in main_paths), coverage_map.table(rep)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("RICCI_MUTATION_CHECK"),
                    reason="runs the fast tier 12 times or more (10-25 min): set RICCI_MUTATION_CHECK=1, "
                           "or run python -m tests.fuzz --mutants")
def test_mutants_are_caught():
    """Each deliberate bug of fuzz.mutants makes the fast tier fail (a test that passes
    without the mutant)."""
    from fuzz import mutants

    res = mutants.run_mutants()
    survived = {n: r for n, r in res["mutants"].items() if not r["caught"]}
    assert not survived, survived


def test_read_back_values_differ_only_where_the_program_can_tell():
    """A program read back with its constant spelled otherwise (``1.5e-20`` as
    ``1.5·10⁻²⁰``) and ``sin`` of numbers near 1e20 differ in every digit by rounding
    alone: undecidable (None), not a finding (seeds 9310, 9314); a real difference stays
    one where the program is well-conditioned (in an ill-conditioned one it is undecidable
    too: the price)."""
    import ricci

    p = ricci.parse("y[i] = sin(x[i] / 1.5e-20)", syntax="ricci")
    q = ricci.parse("y[i] = sin(x[i] / (1.5 * 10^(-20)))", syntax="ricci")
    assert parsecheck.same_values(p, q) is None
    assert parsecheck.same_values(p, ricci.parse("y[i] = sin(x[i] / 1.5e-20) * 2", syntax="ricci")) is None
    assert parsecheck.same_values(ricci.parse("y[i] = x[i] * 2"), ricci.parse("y[i] = x[i] * 3")) is False
    assert parsecheck.same_values(ricci.parse("y[i] = sin(x[i])"), ricci.parse("y[i] = sin(x[i] * 1)")) is True
