"""Shared fixtures."""

import pytest

from support import katex as _katex

#: RICCI_MUTANT=<name> applies a deliberate bug before the tests run (the mutation check
#: of the test suite: python -m tests.fuzz --mutants, docs/reliability.md)
pytest_plugins = ["fuzz.plugin"]


@pytest.fixture(scope="session")
def katex():
    """:func:`katex.katex_errors`: ``katex(list_of_tex) -> [None | error message, ...]``.

    KaTeX is installed with npm on first use. Skips when node or KaTeX is missing, unless
    KaTeX is required (``RICCI_REQUIRE_KATEX=1``, or the ``CI`` variable is set), in which
    case the test fails instead."""
    reason = _katex.unavailable()
    if reason is not None:
        if _katex.required():
            pytest.fail(f"KaTeX is required (CI, or {_katex.REQUIRE_ENV}=1) but cannot run: {reason}")
        pytest.skip(reason)
    return _katex.katex_errors


#: tests of a second or more (hypothesis runs over random programs, notebooks, fresh
#: processes): with the JAX variants of parametrised tests (JAX compiles every new shape),
#: they make the slow tier; ``pytest -m "not slow"`` is the fast tier for the edit-test loop
SLOW = {
    "test_check_with_the_jax_backend_is_float64_in_a_fresh_process", "test_gradients_match_torch",
    "test_unicode_and_latex_steps", "test_numpy_and_torch_code_agree", "test_steps_of_random_programs_hold",
    "test_derived_programs_print_and_parse_back", "test_printing_round_trips",
    "test_numpy_and_jax_code_agree", "test_tour_notebook_runs_and_shows_typeset_math",
    "test_jacobians_match_torch", "test_hessian_vector_products_match_torch",
    "test_matrix_forms_of_random_programs_are_exact", "test_hessians_of_random_programs_check",
    "test_parser_accepts_and_means_the_index_rule", "test_mixed_hessians_of_random_programs_check",
    "test_hvps_of_random_programs_check", "test_hessian_diagonals_of_random_programs_check",
    "test_in_a_fresh_process_on_a_non_utf8_terminal", "test_console_script_and_module_entry_points",
    "test_forward_code_of_random_programs_matches_the_oracle",
    "test_every_view_of_the_examples_avoids_the_other_spellings", "test_canonical_sums_never_capture_a_free_index",
    "test_printed_forms_of_many_random_derivations_are_proven",
    "test_matrix_forms_in_the_steps_of_many_random_derivations_are_proven", "test_steps_hold",
    # every example's steps, each checked numerically and as printed (the fast tier keeps
    # the steps' own tests and a few random derivations)
    "test_every_step_of_every_example_holds", "test_matrix_forms_the_steps_print_are_proven",
    "test_steps_of_second_derivatives_hold_numerically", "test_torch_function_gradcheck",
    # a second or more each, with faster tests of the same facts in the fast tier
    "test_random_expressions_against_numpy", "test_every_example_derivation_renders", "test_cli_subprocess",
    "test_detection_says_ricci_for_random_programs", "test_long_chains_check", "test_deep_expressions_second_order",
    "test_rnn_accumulation_rebinds_under_jit",
    # seconds each, the same facts held by faster tests of the fast tier
    "test_bug_an_accumulated_difference_keeps_its_sign", "test_cli_over_the_corpus",
    "test_hessian_of_an_rnn_is_linear",
}

#: parametrised tests of many cases: the fast tier runs every k-th case (the first one
#: included), the full suite all of them
SAMPLED = {
    "test_printed_matrix_forms_are_proven": 3, "test_printed_matrix_form_is_proven_as_printed": 3,
    "test_ricci_equals_the_textbook_formula": 3, "test_ricci_check_passes_against_torch": 3,
    "test_float32_inputs_give_float32_gradients": 4, "test_hessian_matches_torch_func_hessian": 3,
    "test_diagonal_and_hvp_match_torch": 3, "test_example_gradient_matches_torch": 3,
    "test_example_gradients_are_right": 3, "test_split_softmax_is_stable_at_large_logits": 4,
    "test_the_diagonal_of_a_split_softmax_is_stable": 2, "test_every_function_against_torch": 2,
    "test_every_function_hessian_against_torch": 2, "test_gradient_is_stable_for_large_logits": 3,
    "test_every_matrix_form_of_the_examples_equals_the_einsum_result": 3,
    "test_torch_gradient_code_runs_on_meta_tensors": 4,
    "test_torch_second_derivative_code_runs_on_meta_tensors": 4,
}


def _uses_jax(item) -> bool:
    name = getattr(item, "originalname", item.name)
    params = getattr(getattr(item, "callspec", None), "id", "")
    return "jax" in params.split("-") or "jax" in name


def _uses_numba(item) -> bool:
    """The numba variants of parametrised tests: numba compiles every kernel (a few
    tenths of a second each); tests/codegen/test_kernels.py keeps fast ones."""
    params = getattr(getattr(item, "callspec", None), "id", "")
    return "numba" in params.split("-")


#: the fuzz pools of tests/test_fuzz.py: the fast tier parses the first chunks only (the
#: pools start when a selected test needs their items, so deselected items cost nothing)
FAST_PARSE_CHUNKS = 1
FUZZ_SLOW = {"test_derivatives_match_torch", "test_differential_fuzz_reaches_the_language",
             "test_parser_fuzz_reaches_every_family"}


def _slow_fuzz(item) -> bool:
    name = getattr(item, "originalname", item.name)
    if name in FUZZ_SLOW:
        return True
    callspec = getattr(item, "callspec", None)
    return name == "test_parser_fuzz" and callspec is not None and callspec.params["chunk"] >= FAST_PARSE_CHUNKS


def pytest_collection_modifyitems(items):
    seen: dict[str, int] = {}
    for item in items:
        name = getattr(item, "originalname", item.name)
        if name in SAMPLED and getattr(item, "callspec", None) is not None:
            k = seen[name] = seen.get(name, -1) + 1
            if k % SAMPLED[name]:
                item.add_marker(pytest.mark.slow)
        if name in SLOW or _uses_jax(item) or _uses_numba(item) or _slow_fuzz(item):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_setup(item):
    """JAX tests compare float64 results: JAX computes in float64 only once told so, and
    a test must not depend on another module having told it first."""
    if _uses_jax(item):
        try:
            import jax
        except ImportError:
            return
        jax.config.update("jax_enable_x64", True)
