"""The ``ricci`` command line.

::

    ricci grad PROGRAM --wrt X A [--of Y] [--emit FORMAT] [--steps]
    ricci jacobian PROGRAM --wrt X [--of Y] [--emit FORMAT] [--steps]
    ricci hessian PROGRAM --wrt x [y] [--diagonal] [--of L] [--emit FORMAT] [--steps]
    ricci hvp PROGRAM --wrt x [--of L] [--emit FORMAT] [--steps]
    ricci check PROGRAM --wrt X [--kind grad|jacobian|hessian|diagonal|hvp] [--of Y]
                [--sizes i=3,j=4] [--seed N] [--backend numpy|torch|jax|numba]
    ricci parse PROGRAM [--emit index|unicode|latex|matrix|numpy|torch|jax|numba]
    ricci simplify PROGRAM [--emit index|unicode|latex|matrix|numpy|torch|jax|numba]
    ricci --version
    ricci verify CLAIM [--given PROGRAM] [--wrt X] [--of L] [--syntax ...] [--seed N]
    ricci serve [--host 127.0.0.1] [--port 8000] [--open]

FORMAT is index (default), unicode, latex, matrix, markdown, numpy, torch, jax or numba;
``--steps`` goes with a notation or markdown, not with code. Without ``--wrt``, the
program's ``# wrt: X A`` header line names the inputs (and ``# of: Y`` the output, unless
``--of`` is given), as the files of ``examples/`` do.
PROGRAM is a file path, the program text itself, or ``-`` for standard input, in ricci's
notation, in LaTeX (``y_{ij} = x_{ik} a_{kj}``) or in matrix notation (``X: [n, d]; w: [d];
L = sum((X @ w)**2)``); detected, or ``--syntax latex`` / ``--syntax matrix``.
Errors are printed as one ``ricci: error:`` message (with a caret block for an error in
the program text), never a traceback; see :func:`main` for the exit statuses.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings
from typing import Callable, NoReturn, Sequence, TextIO

from .codegen.backends import BACKENDS
from .derivation import grad, hessian, hvp, jacobian
from .errors import RicciError, RicciWarning
from .ir.program import Program
from .syntax.matrix_input import looks_like_matrix
from .syntax.resolve import parse
from .syntax.text import prepare_text
from .verify.check import check
from .verify.claims import verify

__all__ = ["main"]


def _decode(data: bytes, where: str) -> str:
    """UTF-8 text (a byte-order mark is dropped), or a RicciError at the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise RicciError(f"{where} is not UTF-8 text: byte 0x{data[e.start]:02x} at line {line}, "
                         f"column {col}", hint="save the program as UTF-8") from None


def _read_program(arg: str) -> str:
    if arg == "-":
        raw = getattr(sys.stdin, "buffer", None)  # None: a text stream put in its place
        return _decode(raw.read(), "standard input") if raw is not None else sys.stdin.read().lstrip("\ufeff")
    if os.path.isdir(arg):
        raise RicciError(f"{arg} is a directory, not a program file")
    if os.path.isfile(arg):
        try:
            with open(arg, "rb") as f:
                return _decode(f.read(), arg)
        except OSError as e:
            raise RicciError(f"cannot read {arg}: {e.strerror or e}") from None
    if "=" not in arg and (arg.endswith(".ricci") or os.sep in arg):
        raise RicciError(f"no such file: {arg}")
    return arg


def _sizes(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    if not text:
        return out
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        if "=" not in part:
            raise RicciError(f"cannot read --sizes item {part!r}: write index=size, e.g. i=3,j=4")
        k, v = part.split("=", 1)
        try:
            n = int(v)
        except ValueError:
            raise RicciError(f"cannot read --sizes item {part!r}: the size must be an integer") from None
        if n < 1:
            raise RicciError(f"cannot read --sizes item {part!r}: a size is at least 1")
        out[k.strip()] = n
    return out


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one ``ricci: error:`` line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ricci: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ricci", description="Tensor calculus in index notation: "
                                "symbolic gradients with Kronecker deltas, checked against PyTorch.")
    p.add_argument("--version", action="version",
                   version=f"ricci {importlib.import_module('ricci').__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp: argparse.ArgumentParser, many: bool = True) -> None:
        sp.add_argument("program", help="a file, the program text itself, or - for stdin")
        sp.add_argument("--wrt", nargs="+" if many else "+",
                        help="inputs to differentiate with respect to (X, or X[k,l] to name its "
                        "indices; default: the program's '# wrt: X A' header line)")
        sp.add_argument("--of", help="the output to differentiate (default: the program's "
                        "'# of: Y' header line, else the last statement)")

    def emit(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--emit", choices=EMIT, default="index",
                        help="index notation (default), unicode, latex, matrix notation, a "
                        "markdown report, or generated code (numpy, torch, jax, numba)")
        sp.add_argument("--steps", action="store_true",
                        help="show the derivation step by step (in the --emit notation)")

    g = sub.add_parser("grad", help="gradients by reverse mode")
    common(g)
    emit(g)
    j = sub.add_parser("jacobian", help="the derivative tensor dY[...]/dX[...]")
    common(j)
    emit(j)
    h = sub.add_parser("hessian", help="the Hessian d2L/dx dx of a scalar (d2L/dx dy with two "
                       "names), in closed form")
    common(h)
    h.add_argument("--diagonal", action="store_true", help="only the diagonal of the Hessian")
    emit(h)
    hv = sub.add_parser("hvp", help="the Hessian-vector product H v, without forming H (an extra "
                        "input v of x's shape)")
    common(hv)
    emit(hv)
    c = sub.add_parser("check", help="compare the compiled gradient (or Jacobian, Hessian, "
                       "Hessian diagonal, Hessian-vector product) with torch autograd and "
                       "finite differences")
    common(c)
    c.add_argument("--kind", choices=["grad", "jacobian", "hessian", "diagonal", "hvp"],
                   default="grad", help="what to check (default: the gradient)")
    c.add_argument("--sizes", help="index sizes, e.g. i=3,j=4 (others get small distinct sizes)")
    c.add_argument("--seed", type=_seed, default=0, help="seed of the random inputs (an int >= 0)")
    c.add_argument("--backend", choices=list(BACKENDS), default="numpy")
    pa = sub.add_parser("parse", help="print the program in normalised form (or in matrix "
                        "notation, or as code)")
    si = sub.add_parser("simplify", help="the program simplified, without differentiating it "
                        "(deltas eat indices; statements holding a delta substituted)")
    for sp in (pa, si):
        sp.add_argument("program", help="a file, the program text itself, or - for stdin")
        sp.add_argument("--emit", choices=PROGRAM_EMIT, default="index",
                        help="index notation (default), unicode, latex, matrix notation, or "
                        "the program as code (numpy, torch, jax, numba)")
    v = sub.add_parser("verify", help="check a hand derivation: a chain of equalities "
                       "(A = B = C) or a claimed derivative (dL/dW[i,j] = ...), with a diagnosis")
    v.add_argument("program", metavar="CLAIM", help="the claim: a file, its text, or - for stdin")
    v.add_argument("--given", help="the definitions the claim uses (a program: file or text); "
                   "names it does not define are inputs")
    v.add_argument("--wrt", help="the input a claimed derivative is with respect to (when the claim "
                   "does not say)")
    v.add_argument("--of", help="the output a claimed derivative differentiates")
    v.add_argument("--seed", type=_seed, default=0, help="first seed of the random inputs (an int >= 0)")
    sv = sub.add_parser("serve", help="the playground: a local web page to type a program and see its "
                        "derivatives, steps, code and graph (docs/playground.md)")
    sv.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: "
                    "this machine only)")
    sv.add_argument("--port", type=_port, default=8000, help="the port (default 8000; 0: any free port)")
    sv.add_argument("--open", action="store_true", help="open the page in a web browser")
    for sp in (g, j, h, hv, c, pa, si, v):
        sp.add_argument("--syntax", choices=["auto", "ricci", "latex", "unicode", "matrix"], default="auto",
                        help="the notation of PROGRAM (default: detected)")
    return p


#: what --emit prints: the notations, matrix notation, a report, or code of a backend
EMIT = ["index", "unicode", "latex", "matrix", "markdown", *BACKENDS]
#: what parse and simplify --emit print
PROGRAM_EMIT = ["index", "unicode", "latex", "matrix", *BACKENDS]


def _show_program(p: Program, emit: str) -> str:
    if emit in BACKENDS:
        return p.source(emit)
    show: dict[str, Callable[[Program], str]] = {"index": str, "unicode": Program.unicode,
                                                 "latex": Program.latex,
                                                 "matrix": lambda q: str(q.matrix())}
    return show[emit](p)


_HEADER = re.compile(r"#\s*(wrt|of)\s*:(.*)")


def _headers(text: str) -> dict[str, list[str]]:
    """The ``# wrt: X A`` and ``# of: Y`` lines of the comment block heading ``text``."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if not line.startswith("#"):
            break
        m = _HEADER.fullmatch(line)
        if m:
            out[m.group(1)] = m.group(2).split()
    return out


def _wrt_and_of(args: argparse.Namespace, text: str) -> tuple[list[str], str | None]:
    """``--wrt`` and ``--of``, or else the program's header lines."""
    head = _headers(text)
    wrt = args.wrt or head.get("wrt")
    if not wrt:  # a usage error (status 2), as argparse reports a missing argument
        _Parser(prog=f"ricci {args.command}").error(
            "--wrt is required: name the inputs (--wrt X A), or put a '# wrt: X A' line at "
            "the top of the program")
    of = args.of
    if of is None and head.get("of"):
        if len(head["of"]) != 1:
            raise RicciError(f"the '# of:' header names {len(head['of'])} outputs; it names one")
        of = head["of"][0]
    return list(wrt), of


def _show(d, emit: str, steps: bool) -> str:
    """The text a derivation prints for ``--emit`` (and ``--steps``)."""
    if emit in BACKENDS:
        if steps:
            raise RicciError(f"--steps shows the derivation in a notation; --emit {emit} prints "
                             "code, which has no steps",
                             hint="use --steps with --emit index, unicode, latex or matrix, or "
                                  "--emit markdown --steps for a report with the steps and the code")
        return d.source(emit)
    if emit == "markdown":
        return d.markdown(steps=steps)
    if steps:
        st = d.steps()
        return st.latex() if emit == "latex" else st.text("unicode" if emit == "unicode" else "text")
    if emit == "matrix":
        return str(d.matrix())
    if emit == "unicode":
        return d.unicode()
    if emit == "latex":
        return d.latex()
    return str(d)


def _read_as_matrix(text: str, syntax: str) -> bool:
    """Whether the program text was read as matrix notation (given so, or detected)."""
    return syntax == "matrix" or (syntax == "auto" and looks_like_matrix(prepare_text(text)))


def _derive(command: str, program: Program, wrt: list[str], of: str | None, diagonal: bool):
    if command in ("grad", "jacobian"):
        return (grad if command == "grad" else jacobian)(program, wrt, of=of)
    if command == "hvp":
        if len(wrt) != 1:
            raise RicciError(f"hvp is w.r.t. one input; --wrt names {len(wrt)}")
        return hvp(program, wrt[0], of=of)
    if len(wrt) > 2:
        raise RicciError(f"a Hessian is w.r.t. one input (or two, for a mixed one); --wrt names {len(wrt)}")
    return hessian(program, wrt[0] if len(wrt) == 1 else tuple(wrt), of=of, diagonal=diagonal)


def _seed(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"the seed is an int >= 0, not {n}")
    return n


def _port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, not {n}")
    return n


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve(host: str, port: int, open_browser: bool) -> int:
    """``ricci serve``: the playground until Ctrl-C (exit status 0)."""
    from .web.server import serve

    if not _loopback(host):
        _print(f"ricci: warning: serving on {host}: anyone who can reach this machine can use it", sys.stderr)
    try:
        serve(host.strip("[]"), port, open_browser=open_browser)
    except KeyboardInterrupt:
        return 0
    except OSError as e:
        _error(f"cannot serve on {host}:{port}: {e.strerror or e}")
        return 1
    return 0


def _print(text: str, stream: TextIO | None = None) -> None:
    """``text`` on standard output (or ``stream``), in UTF-8 when the stream's encoding
    cannot hold it (a C locale)."""
    stream = stream or sys.stdout
    text += "" if text.endswith("\n") else "\n"
    raw = getattr(stream, "buffer", None)
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        if raw is not None:  # (stderr would write \xb2 escapes, and the caret would drift)
            stream.flush()
            raw.write(text.encode("utf-8"))
            raw.flush()
            return
    stream.write(text)
    stream.flush()


def _warning(message, category, *_args, **_kwargs) -> None:  # noqa: ANN001 (warnings' signature)
    _print(f"ricci: {'warning' if issubclass(category, RicciWarning) else category.__name__}: {message}",
           sys.stderr)


def _error(text: str) -> None:
    _print(f"ricci: error: {text}", sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status is 0 (done, check passed, every equality of
    ``verify`` holds), 1 (an error, a check that failed, or an equality that does not hold), 2 (a usage error), 3 (a bug in ricci: an internal error) or 130
    (interrupted). Nothing but one ``ricci: error:`` message (with the caret block of an
    error in the program text) is ever printed for a failure: never a traceback."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", RicciWarning)
            warnings.showwarning = _warning  # a reading that could surprise: one line, when it happens
            return _main(argv)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # `ricci ... | head`: the reader is gone
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:  # pragma: no cover
            pass
        return 0
    except Exception as e:  # noqa: BLE001 - the last line of defence: no traceback for a user
        _error(f"internal error ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
               f"this is a bug in ricci, please report it with the command line")
        return 3


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args.host, args.port, args.open)
    try:
        if args.command == "verify":
            given = _read_program(args.given) if args.given is not None else None
            result = verify(_read_program(args.program), context=given, wrt=args.wrt, of=args.of,
                            syntax=args.syntax, seed=args.seed)
            _print(str(result))
            return 0 if result.ok else 1
        text = _read_program(args.program)
        if args.command in ("grad", "jacobian", "hessian", "hvp") and args.steps and args.emit in BACKENDS:
            _show(None, args.emit, True)  # refused before any work
        program = parse(text, syntax=args.syntax)
        if args.command in ("parse", "simplify"):
            _print(_show_program(program.simplify() if args.command == "simplify" else program, args.emit))
            return 0
        wrt, of = _wrt_and_of(args, text)
        if args.command in ("grad", "jacobian", "hessian", "hvp"):
            d = _derive(args.command, program, wrt, of, getattr(args, "diagonal", False))
            if _read_as_matrix(text, args.syntax) and args.emit in ("index", "unicode", "matrix", "latex"):
                # the articles' method: matrix -> indices -> differentiate -> matrix
                mark = "%" if args.emit == "latex" else "#"
                shown = program.latex() if args.emit == "latex" else (
                    program.unicode() if args.emit == "unicode" else str(program))
                _print("\n".join([f"{mark} read as index notation:",
                                   *(f"{mark}   {line}" for line in shown.splitlines())]))
            _print(_show(d, args.emit, args.steps))
            return 0
        d = None
        if args.kind != "grad":
            d = _derive({"diagonal": "hessian"}.get(args.kind, args.kind), program, wrt,
                        of, args.kind == "diagonal")
        report = check(program, wrt, sizes=_sizes(args.sizes), of=of, seed=args.seed,
                       backend=args.backend, derivation=d, raise_on_mismatch=False)
        _print(str(report))
        return 0 if report.ok else 1
    except RicciError as e:
        _error(str(e))
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
