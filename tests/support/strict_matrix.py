"""The strict proof of printed matrix forms: every line of ``str(d.matrix())`` run as NumPy
code, as a reader would run it, and compared with the index form.

:func:`strict_check` returns the problems of the printed text (empty: every formula a person
reads is proven). Unlike :mod:`support.matrix_check`, which evaluates ``view.code(line)`` (a
separate NumPy rendering of the same tree) in a namespace holding every value and broadcasts
the result to the expected shape, it reads only what is printed:

* **The text as printed.** The lines of ``str(view)`` are taken as they are; each line of a
  matrix form (``dX = dY @ A.T``) and each einsum form (``einsum form: dZ/dW = einsum(...)``)
  is run. The index-notation line of a result without a matrix form, its ``no matrix form
  (...)`` line and its ``slices:`` line are prose, not code: they are skipped (the index
  form is proven by the other tests; a slice is a statement about a part).
* **The namespace holds only** what a reader has: the derivation's inputs (``d.inputs``:
  random float64 arrays, a distinct size per index class, 2, 3, 4, ..., so that a transposed
  or broadcast formula cannot pass by accident), the statements of the user's program up to
  ``d.of`` (``d.source_program``, computed with the reference evaluator), the names printed
  on the earlier lines of the same output, and the vocabulary of the matrix text
  (:func:`vocabulary`). No Python builtins.
* **Names as printed.** A left-hand side defines exactly its printed spelling: a Python
  keyword such as ``lambda`` is renamed as :func:`ricci.display.matrix_render.py_name`
  renames it; a spelling that is not an identifier (``dZ/dW``, ``d(dL/dz)/dw``) is replaced,
  longest first, by a placeholder identifier wherever a later line writes it (outside the
  einsum subscripts). A later line that writes the same result another way (``ddz_dw`` for
  ``d(dL/dz)/dw``) uses an undefined name: a problem.
* **The vocabulary** is what docs/matrix.md and the text printer
  (``matrix_render._Text``) define, with NumPy's meaning: ``@``, ``*``, ``/``, ``+``, ``-``,
  ``^`` (the elementwise power, run as ``**``), ``.T`` (``.mT`` for a batch), ``v[:, None]``,
  ``sum(x, axis=...)``, ``size(k)`` (the size of index ``k`` of the program), ``diag`` (of a
  vector: the diagonal matrix; of a matrix: its diagonal), ``outer`` (of two vectors),
  ``ones_like``, ``zeros_like``, ``ones``, ``zeros`` (of a tuple of sizes), ``eye`` (of a
  size), ``X.shape[a]`` (a size no index name of the program stands for alone), ``trace``,
  ``inv``, ``det``, ``logdet``, the elementwise
  functions of ``ricci.primitives.functions.FUNCTIONS`` (``exp``, ``log``, ``sqrt``,
  ``sigmoid``, ...), ``einsum`` and ``I``, the identity matrix. ``I`` has the size its use
  determines: an operand of ``@``, ``+``, ``-`` or an elementwise product with an array, or
  an einsum operand sharing a subscript with another operand; an ``I`` whose size the text
  does not determine (``dA = I``, ``2 * I``, ``einsum('np,hq->nhpq', X, I)``) is a problem.
  Anything else (another name, attribute or builtin) is undefined.
* **The comparison** is exact in shape (no broadcasting) and equal in value to a relative
  tolerance of 1e-9 of the largest magnitude of the expected value (the value of the line's
  statement, ``ln.statement``, by the reference evaluator on ``d.program``). A helper line
  (``ln.helper``: ``G``, ``G2``) has no statement of its own: it is run and defined for
  the later lines, its value not compared. A line that fails is defined with its expected
  value, so each later line is judged on its own.

Each problem is a :class:`Problem`: a string naming the line as printed and what is wrong,
with a ``kind`` (:data:`KINDS`) to group them by.
"""

from __future__ import annotations

import ast
import keyword
import re
from typing import Any, Callable, Iterable

import numpy as np

from ricci.codegen.binding import all_dims
from ricci.display.matrix_render import py_name
from ricci.ir.program import ONE_HOT, SPD
from ricci.ir.traversal import index_occurrences
from ricci.primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, runtime
from ricci.verify.check import declared_array
from ricci.verify.evaluate import evaluate

__all__ = ["KINDS", "Problem", "index_only", "report", "strict_check", "strict_problems", "vocabulary"]

#: the kinds of problem, in the order a report lists them
KINDS = {
    "shape": "the printed formula has another shape than the result",
    "value": "the printed formula has the right shape but another value",
    "spelling": "a line uses a result under another name than the one printed for it",
    "index form only": "a line uses a result printed only in index notation (no matrix or "
                       "einsum form defines it), under a name never printed",
    "self-reference": "a line uses its own left-hand side",
    "undefined": "a line uses a name that is neither an input, a statement of the program, "
                 "a name printed before, nor the vocabulary of the text",
    "identity size": "an I whose size the text does not determine",
    "size index": "size(k) of an index the program does not have",
    "error": "the printed line does not run (syntax or NumPy error)",
    "unchecked": "a line that uses a helper whose own line failed",
    "layout": "the printed text is not the lines of the view",
    "view": "a matrix line the steps print is not the line the matrix view prints for that result",
}

TOL = 1e-9
EINSUM = "  einsum form: "


class Problem(str):
    """A problem: the printed line and what is wrong with it; ``kind`` is a key of KINDS."""

    kind: str
    line: str  #: the line as printed
    detail: str

    def __new__(cls, kind: str, line: str, detail: str) -> "Problem":
        assert kind in KINDS, kind
        self = super().__new__(cls, f"`{line.strip()}`: {kind}: {detail}")
        self.kind, self.line, self.detail = kind, line.strip(), detail
        return self


# ---------------------------------------------------------------- the identity matrix I


class IdentitySizeError(Exception):
    """An ``I`` used where the text does not determine its size."""


class Identity:
    """``c * I``, the identity matrix of the size its use determines (docs/matrix.md:
    ``delta[i,j]`` prints as ``I``). Becomes an array as soon as an operand gives the size;
    anything else (a function of it, a line that is only ``I``) raises
    :class:`IdentitySizeError`."""

    __array_ufunc__ = None  # NumPy defers A + I, A @ I, ... to the reflected methods here

    def __init__(self, coef: float = 1.0) -> None:
        self.coef = coef

    def eye(self, n: int) -> np.ndarray:
        return self.coef * np.eye(n)

    def __repr__(self) -> str:
        return "I" if self.coef == 1 else f"{self.coef} * I"

    @staticmethod
    def _array(x: Any) -> np.ndarray:
        a = np.asarray(x, dtype=float)
        if a.ndim == 0:
            raise IdentitySizeError("I: its size is not determined by the text")
        return a

    # scalars scale it; arrays give its size
    def __mul__(self, other: Any) -> Any:
        if isinstance(other, Identity):
            return Identity(self.coef * other.coef)
        if np.ndim(other) == 0:
            return Identity(self.coef * float(other))
        a = self._array(other)
        return self.eye(a.shape[-1]) * a

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        if np.ndim(other) == 0 and not isinstance(other, Identity):
            return Identity(self.coef / float(other))
        raise IdentitySizeError("I / array: not defined by the text")

    def __rtruediv__(self, other: Any) -> Any:
        raise IdentitySizeError("division by I")

    def __pow__(self, other: Any) -> Any:
        if np.ndim(other) == 0 and not isinstance(other, Identity):
            return Identity(self.coef ** float(other))
        raise IdentitySizeError("I ** array: not defined by the text")

    def __neg__(self) -> "Identity":
        return Identity(-self.coef)

    def __pos__(self) -> "Identity":
        return self

    def __add__(self, other: Any) -> Any:
        if isinstance(other, Identity):
            return Identity(self.coef + other.coef)
        a = self._array(other)
        return self.eye(a.shape[-1]) + a

    def __radd__(self, other: Any) -> Any:
        return self.__add__(other)

    def __sub__(self, other: Any) -> Any:
        return self.__add__(-other if not isinstance(other, Identity) else Identity(-other.coef))

    def __rsub__(self, other: Any) -> Any:
        return (-self).__add__(other)

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, Identity):
            return Identity(self.coef * other.coef)
        a = self._array(other)
        return self.eye(a.shape[0] if a.ndim == 1 else a.shape[-2]) @ a

    def __rmatmul__(self, other: Any) -> Any:
        a = self._array(other)
        return a @ self.eye(a.shape[-1])

    @property
    def T(self) -> "Identity":  # noqa: N802 (NumPy's name)
        return self

    mT = T


def _no_identity(*xs: Any) -> None:
    for x in xs:
        if isinstance(x, Identity):
            raise IdentitySizeError("I: its size is not determined by the text")


def _einsum(spec: str, *ops: Any) -> np.ndarray:
    """``einsum`` where an operand ``I`` takes its size from another operand that shares a
    subscript with it."""
    ins = spec.replace(" ", "").split("->")[0].split(",")
    if len(ins) != len(ops):
        raise ValueError(f"einsum: {len(ins)} subscripts for {len(ops)} operands")
    known: dict[str, int] = {}
    for sub, op in zip(ins, ops):
        if not isinstance(op, Identity):
            for c, n in zip(sub, np.shape(op)):
                known.setdefault(c, n)
    arrays = []
    for sub, op in zip(ins, ops):
        if isinstance(op, Identity):
            sizes = [known[c] for c in sub if c in known]
            if len(sub) != 2 or not sizes:
                raise IdentitySizeError(f"I with subscripts '{sub}': no other operand of the einsum "
                                        "gives its size")
            op = op.eye(sizes[0])
        arrays.append(op)
    return np.einsum(spec, *arrays)


# ---------------------------------------------------------------- the vocabulary


def _elementwise(name: str) -> Callable[[Any], Any]:
    template = FUNCTIONS[name].code["numpy"]
    glob = runtime("numpy")

    def f(x: Any) -> Any:
        _no_identity(x)
        return eval(template.format("__x"), glob, {"__x": np.asarray(x, dtype=float)})

    f.__name__ = name
    return f


def _matrix_function(name: str) -> Callable[[Any], Any]:
    template = MATRIX_FUNCTIONS[name].code["numpy"]
    glob = runtime("numpy")

    def f(x: Any) -> Any:
        _no_identity(x)
        a = np.asarray(x, dtype=float)
        if name == "trace" and a.ndim != 2:
            raise ValueError(f"trace of a {a.ndim}-d array")
        return eval(template.format("__x"), glob, {"__x": a})

    f.__name__ = name
    return f


def _sum(x: Any, axis: Any = None) -> Any:
    _no_identity(x)
    return np.sum(np.asarray(x, dtype=float), axis=axis)


def _diag(x: Any) -> np.ndarray:
    _no_identity(x)
    a = np.asarray(x, dtype=float)
    if a.ndim not in (1, 2):
        raise ValueError(f"diag of a {a.ndim}-d array (diag(v) is a matrix, diag(A) a vector)")
    return np.diag(a)


def _outer(u: Any, v: Any) -> np.ndarray:
    _no_identity(u, v)
    a, b = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer of arrays of shapes {a.shape} and {b.shape} (it takes two vectors)")
    return np.outer(a, b)


def _like(fill: float) -> Callable[[Any], np.ndarray]:
    def f(x: Any) -> np.ndarray:
        _no_identity(x)
        return np.full(np.shape(x), fill)

    f.__name__ = "zeros_like" if fill == 0 else "ones_like"
    return f


def _full(fill: float) -> Callable[[Any], np.ndarray]:
    def f(shape: Any) -> np.ndarray:
        # (size(k) reads as a float here, as it is one in arithmetic)
        if not isinstance(shape, tuple) or not all(isinstance(k, (int, float)) and float(k).is_integer()
                                                   and k >= 0 for k in shape):
            raise ValueError(f"{f.__name__} takes a tuple of sizes, not {shape!r}")
        return np.full(tuple(int(k) for k in shape), fill)

    f.__name__ = "zeros" if fill == 0 else "ones"
    return f


def _eye(k: Any) -> np.ndarray:
    if not (isinstance(k, (int, float)) and float(k).is_integer() and k >= 0):
        raise ValueError(f"eye takes a size, not {k!r}")
    return np.eye(int(k))


def vocabulary() -> dict[str, Any]:
    """The names the matrix text may use, with their documented meaning (``size`` is
    handled apart: its argument is an index name, not a value)."""
    out: dict[str, Any] = {name: _elementwise(name) for name in FUNCTIONS}
    out.update({name: _matrix_function(name) for name in MATRIX_FUNCTIONS})
    out.update(sum=_sum, diag=_diag, outer=_outer, ones_like=_like(1.0), zeros_like=_like(0.0),
               ones=_full(1.0), zeros=_full(0.0), eye=_eye,
               einsum=_einsum, I=Identity())
    return out


# ---------------------------------------------------------------- values


def sizes_of(d) -> dict[str, int]:
    """A distinct size per index class (dim label), 2, 3, 4, ..."""
    labels = dict.fromkeys(all_dims(d.program) + all_dims(d.forward) + all_dims(d.source_program))
    return {lab: 2 + k for k, lab in enumerate(labels)}


def _inputs(d, dims: dict[str, int], rng: np.random.Generator, positive: bool) -> dict[str, np.ndarray]:
    """Random inputs; a square matrix is well conditioned and not symmetric (n I + noise:
    ``inv``, ``det`` and ``logdet`` are defined and a missing transpose shows), unless the
    program declares it symmetric: then symmetric positive definite; one-hot where declared so."""
    out = {}
    declared = {**d.program.declared, **d.source_program.declared}
    for name in d.inputs:
        labels = d.program.dims[name]
        shape = tuple(dims[x] for x in labels)
        if name in declared:  # the results assume the fact (symmetric: SPD, n I + A A^T)
            fact = declared[name] if declared[name] == ONE_HOT else SPD
            out[name] = declared_array(rng, shape, fact, positive)
            continue
        x = rng.standard_normal(shape)
        if positive:
            x = np.abs(x) + 0.1
        if len(labels) == 2 and labels[0] == labels[1]:
            x = shape[0] * np.eye(shape[0]) + 0.3 * x
        out[name] = x
    return out


def _finite(values: Iterable[Any]) -> bool:
    return all(np.all(np.isfinite(v)) for v in values)


def values(d, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """(what the reader has: inputs and program statements up to ``d.of``; the value of
    every statement of ``d.program``; the size of each dim). Inputs are random normal, or
    positive when that leaves a value outside a function's domain."""
    dims = sizes_of(d)
    src = d.source_program.upto(d.of)
    for positive in (False, True):
        inputs = _inputs(d, dims, np.random.default_rng(seed), positive)
        with np.errstate(all="ignore"):
            forward = evaluate(src, {k: inputs[k] for k in src.inputs}, dim_sizes=dims)
            expected = evaluate(d.program, {k: inputs[k] for k in d.program.inputs}, dim_sizes=dims)
        if _finite(forward.values()) and _finite(expected.values()):
            break
    reader = {**inputs, **{s.name: forward[s.name] for s in src.statements}}
    return reader, expected, dims


def compare(got: Any, want: Any) -> tuple[str, str] | None:
    """(kind, detail) when ``got`` is not ``want``: exact shape, values to TOL relative to
    the largest magnitude of ``want`` (or 1e-12 absolute, where that is larger)."""
    want = np.asarray(want, dtype=float)
    try:
        g = np.asarray(got, dtype=float)
    except (TypeError, ValueError) as e:
        return "error", f"the value is not an array of numbers ({type(got).__name__}: {e})"
    if g.shape != want.shape:
        return "shape", f"shape {g.shape} printed, {want.shape} expected"
    fin = np.isfinite(want)
    if not np.array_equal(np.isfinite(g), fin):
        return "value", "not finite where the result is finite (or finite where it is not)"
    if not fin.any():
        return None
    scale = float(np.max(np.abs(want[fin])))
    err = float(np.max(np.abs(g[fin] - want[fin])))
    if err > max(TOL * scale, 1e-12):  # inputs are O(1): a value of 1e-16 is a cancelled zero
        return "value", f"max error {err:.3g} (largest magnitude {scale:.3g})"
    return None


# ---------------------------------------------------------------- the text


_STRING = re.compile(r"'[^']*'|\"[^\"]*\"")
_SIZE = re.compile(r"(?<![\w.])size\(\s*([A-Za-z_]\w*)\s*\)")
_WORD = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


def _outside_strings(text: str, f: Callable[[str], str]) -> str:
    """``f`` applied to the parts of ``text`` outside string literals (einsum subscripts)."""
    out, last = [], 0
    for m in _STRING.finditer(text):
        out.append(f(text[last:m.start()]))
        out.append(m.group())
        last = m.end()
    out.append(f(text[last:]))
    return "".join(out)


def _spelling_pattern(spelling: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w.])" + re.escape(spelling) + r"(?!\w)")


class _Reader:
    """The state of a reader going down the printed lines of one derivation."""

    def __init__(self, d, seed: int) -> None:
        self.d = d
        self.reader, self.expected, self.dims = values(d, seed)
        self.vocab = vocabulary()
        #: identifier -> value: inputs, program statements, printed names, placeholders
        self.ns: dict[str, Any] = {py_name(k): v for k, v in self.reader.items()}
        #: a printed spelling that is not an identifier -> its placeholder identifier
        self.placeholders: dict[str, str] = {}
        #: ricci's name of a result -> how the output printed it (to explain a misspelling)
        self.printed_as: dict[str, str] = {}
        #: ricci's name of a result printed only in index notation -> its printed left-hand side
        self.index_only: dict[str, str] = {}
        #: names whose line failed and has no expected value (helpers)
        self.failed: set[str] = set()
        self.index_dims = self._program_index_dims()

    def _program_index_dims(self) -> dict[str, set[str]]:
        """Each index name of the user's program -> the dims it stands for there."""
        out: dict[str, set[str]] = {}
        for s in self.d.source_program.statements:
            for i in list(s.indices) + list(index_occurrences(s.rhs)):
                out.setdefault(i.name, set()).add(i.dim)
        return out

    # -- names

    def define(self, lhs: str, value: Any) -> None:
        if lhs.isidentifier():
            self.ns[py_name(lhs)] = value
            return
        ph = self.placeholders.setdefault(lhs, f"__printed{len(self.placeholders)}")
        self.ns[ph] = value

    def identifier(self, lhs: str) -> str | None:
        if lhs.isidentifier():
            return py_name(lhs)
        return self.placeholders.get(lhs)

    def rewrite(self, text: str, ln) -> tuple[str, list[tuple[str, str]]]:
        """The printed right-hand side as Python, and the problems of its ``size(k)``s."""
        problems: list[tuple[str, str]] = []
        sizes = self._statement_index_dims(ln)

        def size(m: re.Match[str]) -> str:
            k = m.group(1)
            dims = sizes.get(k, set())
            if not dims and ln.statement is not None:
                # a name the reader knows from the program, for a dim the statement has
                # (dt/dA = eye(size(i)): the statement's own index names are not printed)
                own = {i.dim for i in list(ln.statement.indices) + list(index_occurrences(ln.statement.rhs))}
                dims = self.index_dims.get(k, set()) & own
            if len(dims) != 1:
                problems.append(("size index", f"size({k}): {'no' if not dims else 'an ambiguous'} "
                                               f"index {k} in the line's statement"))
                return "__size_unknown"
            (dim,) = dims
            if dim not in self.index_dims.get(k, set()):
                where = (f"{k} is an index of another size in the program" if k in self.index_dims
                         else f"the program has no index {k}")
                problems.append(("size index", f"size({k}): {where}"))
            return repr(float(self.dims[dim]))

        keywords = self.ns_keywords()

        def code(part: str) -> str:
            part = _SIZE.sub(size, part)
            for spelling in sorted(self.placeholders, key=len, reverse=True):
                part = _spelling_pattern(spelling).sub(self.placeholders[spelling], part)
            part = part.replace("^", "**")
            return _WORD.sub(lambda m: py_name(m.group()) if m.group() in keywords else m.group(), part)

        return _outside_strings(text, code), problems

    def ns_keywords(self) -> set[str]:
        """Python keywords that name a value here (a tensor ``lambda``; not ``None``)."""
        return {k for k in keyword.kwlist if py_name(k) in self.ns and k not in ("None", "True", "False")}

    def _statement_index_dims(self, ln) -> dict[str, set[str]]:
        st = ln.statement
        out: dict[str, set[str]] = {}
        if st is not None:
            for i in list(st.indices) + list(index_occurrences(st.rhs)):
                out.setdefault(i.name, set()).add(i.dim)
        return out

    # -- one printed line

    def run(self, printed: str, code_text: str, ln, helper: bool) -> list[Problem]:
        """Run the printed line ``printed`` (``code_text``: its ``lhs = rhs`` part)."""
        lhs, sep, rhs = code_text.partition(" = ")
        problems: list[Problem] = []

        def problem(kind: str, detail: str) -> list[Problem]:
            problems.append(Problem(kind, printed, detail))
            return problems

        if not sep:
            return problem("error", "not a line `name = formula`")
        want = None if helper else self.expected.get(ln.name)
        py, size_problems = self.rewrite(rhs, ln)
        for kind, detail in size_problems:
            problem(kind, detail)
        try:
            tree = ast.parse(py, mode="eval")
        except SyntaxError as e:
            self._fail(lhs, want)
            return problem("error", f"not valid Python once read as NumPy ({e.msg}): {py}")
        missing = self._undefined(tree, lhs, ln.name)
        if missing:
            for kind, detail in missing:
                problem(kind, detail)
            self._fail(lhs, want)
            return problems
        if size_problems:
            self._fail(lhs, want)
            return problems
        try:
            with np.errstate(all="ignore"):
                got = eval(compile(tree, "<printed>", "eval"), {"__builtins__": {}, **self.vocab, **self.ns})
        except IdentitySizeError as e:
            self._fail(lhs, want)
            return problem("identity size", str(e))
        except Exception as e:  # the printed line does not run: that is the finding
            self._fail(lhs, want)
            return problem("error", f"{type(e).__name__}: {e}")
        if isinstance(got, Identity):
            self._fail(lhs, want)
            return problem("identity size", "the line is a multiple of I, whose size the text does not determine")
        if helper:
            self.define(lhs, got)
            return problems
        if want is None:
            self.define(lhs, got)
            return problem("error", f"no statement {ln.name} to compare with")  # pragma: no cover
        bad = compare(got, want)
        if bad is not None:
            problem(*bad)
        self.define(lhs, want)  # later lines are judged on their own
        return problems

    def _fail(self, lhs: str, want: Any) -> None:
        if want is None:
            self.failed.add(lhs)
        else:
            self.define(lhs, want)

    def _undefined(self, tree: ast.AST, lhs: str, name_of_line: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        own = self.identifier(lhs) or lhs
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr not in ("T", "mT", "shape"):
                out.append(("undefined", f".{node.attr} is not in the vocabulary of the text"))
            if not isinstance(node, ast.Name) or node.id in seen:
                continue
            seen.add(node.id)
            name = node.id
            if name in self.ns or name in self.vocab:
                continue
            if name == "__size_unknown":
                continue
            if name in self.failed:
                out.append(("unchecked", f"uses {name}, whose own line failed"))
            elif name in (own, py_name(name_of_line)):
                out.append(("self-reference", f"uses {name}, the name it defines"))
            elif name in self.index_only:
                out.append(("index form only", f"uses {name}, printed only in index notation as "
                                               f"`{self.index_only[name]}`"))
            elif name in self.printed_as:
                out.append(("spelling", f"uses {name}, printed as `{self.printed_as[name]}`"))
            else:
                out.append(("undefined", f"uses {name}, which is not defined"))
        return out


def _printed_lhs_index(index_text: str) -> str:
    """The left-hand side of an index-notation line (``dz3[n,c]/db1[l]``)."""
    return index_text.partition(" = ")[0]


def strict_problems(d, seed: int = 0) -> list[Problem]:
    """The problems of the printed text of ``d.matrix()`` (see the module docstring)."""
    view = d.matrix()
    printed = str(view).split("\n")
    r = _Reader(d, seed)
    problems: list[Problem] = []
    at = 0
    while at < len(printed) and printed[at].startswith("# "):  # "# I_ is the tensor I": a note
        m = re.fullmatch(r"# (\w+)_ is the tensor (\w+) .*", printed[at])
        if m and m.group(1) == m.group(2) and m.group(2) in r.ns:
            r.ns[m.group(2) + "_"] = r.ns.pop(m.group(2))  # the word is the notation's again
        at += 1
    for ln in view.lines:
        mine = view.line_text(ln).split("\n")
        block, at = printed[at:at + len(mine)], at + len(mine)
        if block != mine:  # pragma: no cover - str(view) is its lines joined
            problems.append(Problem("layout", " / ".join(block), "the printed text differs from the view's line"))
            continue
        if ln.node is not None:
            lhs = block[0].partition(" = ")[0]
            problems += r.run(block[0], block[0], ln, ln.helper)
            r.printed_as.setdefault(ln.name, lhs)
            continue
        # no matrix form: the index form, the reason, then the einsum form and the slices
        einsum = [b for b in block if b.startswith(EINSUM)]
        if einsum:
            code = einsum[0][len(EINSUM):]
            problems += r.run(einsum[0], code, ln, ln.helper)
            r.printed_as.setdefault(ln.name, code.partition(" = ")[0])
        else:
            r.index_only.setdefault(ln.name, _printed_lhs_index(block[0]))
    if at != len(printed):  # pragma: no cover
        problems.append(Problem("layout", printed[at], "printed lines after the view's lines"))
    return problems


def strict_check(d, seed: int = 0) -> list[str]:
    """The problems of the printed matrix text of the derivation ``d``: each a string
    naming the line as printed and what is wrong (an undefined name, a shape, a value, the
    exception). Empty: every line of ``str(d.matrix())`` runs as printed, with only the
    inputs, the program's statements, the earlier printed names and the documented
    vocabulary, and equals the index form in shape and value. ``slices:`` lines (and the
    index-notation and reason lines of a result without a matrix form) are prose and are
    skipped; see the module docstring for the rest."""
    return list(strict_problems(d, seed))


def index_only(d) -> list[str]:
    """The printed index-notation lines of the results that have neither a matrix form nor
    an einsum form (docs/matrix.md: "where it does not, it says so and gives the einsum
    form instead"): not a problem of :func:`strict_check` (nothing evaluable is printed),
    but nothing printed proves them either, and a later line cannot use them."""
    view = d.matrix()
    return [ln.index_text for ln in view.lines if ln.node is None and not ln.einsum]


def report(results: Iterable[tuple[str, list[Problem]]], notes: dict[str, list[str]] | None = None) -> str:
    """A report of failing cases: by kind of problem (with counts), then by case; ``notes``:
    case -> results printed in index notation only (:func:`index_only`)."""
    results = [(case, probs) for case, probs in results]
    failing = [(case, probs) for case, probs in results if probs]
    lines = [f"strict matrix check: {len(failing)} of {len(results)} cases fail, "
             f"{sum(len(p) for _, p in failing)} problems", ""]
    by_kind: dict[str, list[tuple[str, Problem]]] = {}
    for case, probs in failing:
        for p in probs:
            by_kind.setdefault(p.kind, []).append((case, p))
    lines.append("By kind of problem (problems, cases):")
    for kind in KINDS:
        if kind in by_kind:
            cases = {c for c, _ in by_kind[kind]}
            lines.append(f"  {kind:15} {len(by_kind[kind]):4} problems in {len(cases):3} cases: {KINDS[kind]}")
    for kind in KINDS:
        if kind not in by_kind:
            continue
        lines += ["", f"== {kind} ({len(by_kind[kind])}): {KINDS[kind]}"]
        for case, p in by_kind[kind]:
            lines.append(f"  [{case}] {p}")
    lines += ["", "By case:"]
    for case, probs in failing:
        lines.append(f"  {case}: {len(probs)} problem{'s' if len(probs) > 1 else ''}")
        lines += [f"    - {p}" for p in probs]
    passing = [case for case, probs in results if not probs]
    lines += ["", f"Passing ({len(passing)}): " + ", ".join(passing)]
    notes = {case: n for case, n in (notes or {}).items() if n}
    if notes:
        lines += ["", f"Note: {sum(len(n) for n in notes.values())} results in {len(notes)} cases are printed in "
                  "index notation only (no matrix form and no einsum form), so nothing printed proves them:"]
        for case, ns in notes.items():
            lines += [f"  [{case}] {n}" for n in ns]
    return "\n".join(lines) + "\n"
