"""Greek letter names, shared by the LaTeX reader and the LaTeX / Unicode printers.

A tensor or index named ``mu`` prints as ``\\mu`` (LaTeX) and ``μ`` (Unicode), and
``\\mu_n`` in LaTeX input reads as ``mu[n]``. ``GREEK`` maps each name to its Unicode
character; the LaTeX command is ``"\\" + name``.
"""

from __future__ import annotations

__all__ = ["GREEK"]

GREEK: dict[str, str] = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
