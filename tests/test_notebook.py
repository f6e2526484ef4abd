"""The example notebook is valid, runs top to bottom, and its stored outputs are current."""

import copy
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "examples", "tour.ipynb")

RICH = ("text/latex", "text/markdown")


def test_tour_notebook_runs_and_shows_typeset_math():
    stored = nbformat.read(PATH, as_version=4)
    nbformat.validate(stored)
    fresh = copy.deepcopy(stored)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nbclient.NotebookClient(fresh, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(PATH)}}).execute()
    rich = 0
    for old, new in zip(stored.cells, fresh.cells):
        if new.cell_type != "code":
            continue
        assert not [o for o in new.outputs if o.output_type == "error"], new.source
        for o_old, o_new in zip(old.outputs, new.outputs):
            for mime in RICH:
                if mime in o_new.get("data", {}):
                    rich += 1
                    # the outputs committed with the notebook are what it shows today
                    assert o_old["data"].get(mime) == o_new["data"][mime], (new.source, mime)
    assert rich >= 6  # programs, derivations, matrix forms and steps display as math
