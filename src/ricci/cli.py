"""The ``ricci`` command line.

::

    ricci grad PROGRAM --wrt X A [--of Y] [--emit index|numpy|torch]
    ricci jacobian PROGRAM --wrt X [--of Y] [--emit index|numpy|torch]
    ricci check PROGRAM --wrt X [--of Y] [--sizes i=3,j=4] [--seed N]
    ricci parse PROGRAM

PROGRAM is a file path, the program text itself, or ``-`` for standard input.
Errors are printed without a traceback and exit with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .autodiff import as_program, grad, jacobian
from .check import check
from .errors import RicciError


def _read_program(arg: str) -> str:
    if arg == "-":
        return sys.stdin.read()
    if os.path.isfile(arg):
        with open(arg, encoding="utf-8") as f:
            return f.read()
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
            out[k.strip()] = int(v)
        except ValueError:
            raise RicciError(f"cannot read --sizes item {part!r}: the size must be an integer") from None
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ricci", description="Tensor calculus in index notation: "
                                "symbolic gradients with Kronecker deltas, checked against PyTorch.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, many: bool = True) -> None:
        sp.add_argument("program", help="a file, the program text itself, or - for stdin")
        sp.add_argument("--wrt", nargs="+" if many else "+", required=True,
                        help="inputs to differentiate with respect to (X, or X[k,l] to name its indices)")
        sp.add_argument("--of", help="the output to differentiate (default: the last statement)")

    g = sub.add_parser("grad", help="gradients by reverse mode")
    common(g)
    g.add_argument("--emit", choices=["index", "numpy", "torch"], default="index",
                   help="index notation (default) or generated code")
    j = sub.add_parser("jacobian", help="the derivative tensor dY[...]/dX[...]")
    common(j)
    j.add_argument("--emit", choices=["index", "numpy", "torch"], default="index")
    c = sub.add_parser("check", help="compare the compiled gradient with torch autograd and "
                       "finite differences")
    common(c)
    c.add_argument("--sizes", help="index sizes, e.g. i=3,j=4 (others get small distinct sizes)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--backend", choices=["numpy", "torch"], default="numpy")
    pa = sub.add_parser("parse", help="print the program in normalised form")
    pa.add_argument("program")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        text = _read_program(args.program)
        if args.command == "parse":
            print(as_program(text))
            return 0
        if args.command in ("grad", "jacobian"):
            fn = grad if args.command == "grad" else jacobian
            d = fn(text, args.wrt, of=args.of)
            print(d if args.emit == "index" else d.source(args.emit), end="\n" if args.emit == "index" else "")
            return 0
        report = check(text, args.wrt, sizes=_sizes(args.sizes), of=args.of, seed=args.seed,
                       backend=args.backend, raise_on_mismatch=False)
        print(report)
        return 0 if report.ok else 1
    except RicciError as e:
        print(f"ricci: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
