"""The LaTeX reader's vocabulary: which commands it reads as what, ignores or refuses.

Tables of command names (without the backslash) read by the lexer (:mod:`.latex_lexer`:
spacing and styling commands dropped, sized delimiters, operators spelled as commands,
environments) and by the parser (words such as ``\\mathrm{W2}``, accents that become a suffix
of the name, fractions, and the commands refused with what to write instead). Functions
are not listed here: their LaTeX spellings come from the primitive table
(:func:`ricci.primitives.functions.latex_reading`), and the parser tries them before the
commands refused here. :func:`known_commands` is every command the reader knows (these tables and
the functions' spellings), for the "did you mean" of an unknown command.
"""

from __future__ import annotations

from ..primitives.functions import LatexReading
from ..primitives.greek import GREEK

__all__ = [
    "DECORATIONS", "ENVIRONMENTS", "FRACTIONS", "IGNORED", "IGNORED_WITH_ARGUMENT",
    "OPERATOR_COMMANDS", "OPTIONAL_ARGUMENTS", "SIZES_LEFT", "SIZES_PLAIN", "SIZES_RIGHT",
    "UNSUPPORTED", "WORD_COMMANDS", "known_commands",
]

#: commands whose braced argument is a word: a name, a function or ``size``
WORD_COMMANDS = ("mathrm", "mathit", "mathbf", "mathsf", "mathtt", "boldsymbol", "bm",
                 "operatorname", "text", "textrm", "textit", "textbf")
#: accents that become a suffix of the name: ``\hat{y}`` -> ``yhat``
DECORATIONS = {"hat": "hat", "widehat": "hat", "bar": "bar", "overline": "bar",
               "tilde": "tilde", "widetilde": "tilde"}
FRACTIONS = ("frac", "dfrac", "tfrac")
#: commands that only space or style the formula
IGNORED = {"quad", "qquad", "displaystyle", "textstyle", "limits", "nolimits", "nonumber",
           "notag"}
IGNORED_WITH_ARGUMENT = {"label", "tag"}
ENVIRONMENTS = {"aligned", "align", "align*", "equation", "equation*", "gather", "gather*",
                "gathered", "split", "multline", "multline*", "alignat", "alignat*", "alignedat",
                "eqnarray", "eqnarray*", "displaymath", "math"}
SIZES_LEFT = {"left", "bigl", "Bigl", "biggl", "Biggl"}
SIZES_RIGHT = {"right", "bigr", "Bigr", "biggr", "Biggr"}
SIZES_PLAIN = {"big", "Big", "bigg", "Bigg"}
#: commands that are operators
OPERATOR_COMMANDS = {"cdot": "*", "times": "*", "ast": "*", "div": "/", "coloneqq": "=",
                     "vert": "|", "lvert": "lvert", "rvert": "rvert"}
#: commands ricci understands but does not accept here, with what to do instead
UNSUPPORTED = {
    "partial": "derivatives are what ricci computes: write the function itself and call "
               "ricci.grad (or `ricci grad`) on it",
    "nabla": "derivatives are what ricci computes: write the function itself and call ricci.grad",
    "prod": "products over an index are not supported; a sum of logs is: \\sum_{k} \\log x_k",
    "max": "max is not a ricci function; relu(x) is max(x, 0)",
    "min": "min is not a ricci function",
    "top": "transposes are not needed in index notation: swap the indices (A_{ji})",
    "intercal": "transposes are not needed in index notation: swap the indices (A_{ji})",
    "infty": "sums run over the whole index; sizes come from the arrays",
    "int": "integrals are not supported",
    "lim": "limits are not supported",
    "sinh": "sinh is not a ricci function",
    "cosh": "cosh is not a ricci function",
    "tan": "tan is not a ricci function (sin(x) / cos(x) is)",
    "mathbb": "sets such as \\mathbb{R} are not part of a program",
    "in": "write only the definitions; sizes come from the arrays",
    "langle": "inner products are written with a repeated index: x_i y_i",
    "dot": "write \\mathrm{xdot} for a name", "vec": "write x for a vector x_i (indices say the rank)",
    "prime": "name the other tensor: \\mathrm{yp}, \\hat{y} or y_2",
}
#: optional arguments LaTeX allows a command and ricci does not: message and hint
OPTIONAL_ARGUMENTS = {"sqrt": ("only square roots are supported",
                               "only square roots: write x^{1/n} for an n-th root")}
_KNOWN = (set(GREEK) | set(WORD_COMMANDS) | set(DECORATIONS) | set(FRACTIONS) | set(IGNORED) |
          set(OPERATOR_COMMANDS) | SIZES_LEFT | SIZES_RIGHT | SIZES_PLAIN |
          {"sum", "delta", "begin", "end"})


def known_commands(reading: LatexReading) -> set[str]:
    """Every command the reader knows, for "did you mean" (the functions' from the tables)."""
    return _KNOWN | {c for cs in reading.commands for c in cs} | set(reading.macros)
