"""A notebook as other tools save it: Google Colab, VS Code, JupyterLab 4.

The grader tells cells apart by nbgrader ``grade_id``, cell id, or content;
these functions make the notebooks that test it (``tests/autograder/test_idless.py``)
and measure it (``scripts/bench_idless.py``), from the instructor notebooks:

* :func:`student_copy`: what a student might hand in: the answers as they are,
  some cells reordered, each experiment's first hyperparameter changed;
* :func:`as_jupyterlab` (nbformat 4.5, the ids kept), :func:`as_colab` (4.0:
  no ids, Colab's own cell and notebook metadata, and no nbgrader metadata, as
  a notebook copied cell by cell into Colab has) and :func:`as_vscode` (4.4, no
  ids, VS Code's metadata), each with outputs (text, a PNG, a widget view) and
  the notebook's widget state, as those tools write them.

    python scripts/resave_notebooks.py colab source/pytorch_vfa/pytorch_basics.ipynb out.ipynb
"""

from __future__ import annotations

import base64
import copy
import json
import re
import sys
from pathlib import Path

import nbformat

SAVERS = ("jupyterlab", "colab", "vscode")
_PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082")).decode()
_NUMBER_AFTER_EQUALS = re.compile(r"(=\s*)(\d+)(?![\d.e])")
#: a widget model, as ipywidgets' IntProgress (tqdm's bar) leaves it in a saved notebook
_WIDGET_MODEL = {"model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
                 "model_name": "IntProgressModel",
                 "state": {"bar_style": "success", "layout": "IPY_MODEL_layout", "max": 300, "value": 300}}


def _is_experiment(cell) -> bool:
    return cell.get("cell_type") == "code" and str(cell.get("id", "")).startswith("experiment-")


def student_copy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The answers of ``notebook`` as a student might hand them in: every experiment
    moved two cells up and its first ``= <integer>`` doubled (another number of
    episodes, seeds or steps), and the last two solution cells swapped."""
    notebook = copy.deepcopy(notebook)
    cells = notebook.cells
    for cell in [c for c in cells if _is_experiment(c)]:
        cell.source = _NUMBER_AFTER_EQUALS.sub(lambda m: f"{m.group(1)}{2 * int(m.group(2))}", cell.source, count=1)
        at = cells.index(cell)
        cells.insert(max(1, at - 2), cells.pop(at))
    solutions = [i for i, c in enumerate(cells) if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    if len(solutions) >= 2:
        a, b = solutions[-2:]
        cells[a], cells[b] = cells[b], cells[a]
    return notebook


def _outputs(cell, count: int, widget: str) -> list[dict]:
    """Outputs as a run leaves them: printed text, a result, a figure and, for
    experiments, a progress bar's widget view."""
    outputs = [{"output_type": "stream", "name": "stdout", "text": [f"cell {count} ran\n", "done\n"]},
               {"output_type": "execute_result", "execution_count": count, "metadata": {},
                "data": {"text/plain": [f"{count}"]}}]
    if _is_experiment(cell):
        outputs += [{"output_type": "display_data", "metadata": {}, "data": {
                        "application/vnd.jupyter.widget-view+json": {"model_id": widget, "version_major": 2,
                                                                      "version_minor": 0},
                        "text/plain": ["IntProgress(value=300, max=300)"]}},
                    {"output_type": "display_data", "metadata": {}, "data": {
                        "image/png": _PNG, "text/plain": ["<Figure size 640x480 with 1 Axes>"]}}]
    return outputs


def _saved(notebook: nbformat.NotebookNode, minor: int, ids: bool, cell_meta, notebook_meta: dict,
           nbgrader: bool = True) -> dict:
    """``notebook`` as JSON of nbformat 4.``minor``: run top to bottom, with outputs and widget state."""
    data = json.loads(nbformat.writes(notebook))
    data["nbformat_minor"] = minor
    widgets = {}
    count = 0
    for index, cell in enumerate(data["cells"]):
        if not ids:
            cell.pop("id", None)
        if not nbgrader:
            cell["metadata"].pop("nbgrader", None)
        cell["metadata"].update(cell_meta(index))
        if cell["cell_type"] == "code":
            count += 1
            widget = f"{index:08x}4f2d4e8a9c1b7d3e5f6a7b8c"
            cell["execution_count"] = count
            cell["outputs"] = _outputs(notebook.cells[index], count, widget)
            if _is_experiment(notebook.cells[index]):
                widgets[widget] = _WIDGET_MODEL
    data["metadata"].update(notebook_meta)
    data["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": widgets, "version_major": 2, "version_minor": 0}}
    return data


def as_jupyterlab(notebook: nbformat.NotebookNode) -> dict:
    """As JupyterLab 4 saves it: nbformat 4.5, every cell keeps its id."""
    return _saved(notebook, 5, True, lambda index: {}, {})


def as_colab(notebook: nbformat.NotebookNode) -> dict:
    """As Google Colab downloads it (File → Download .ipynb): nbformat 4.0, no cell ids
    (Colab keeps its own in the metadata), no nbgrader metadata, a widget state shaped as Colab's."""
    data = _saved(notebook, 0, False, lambda index: {"id": f"c{index:03d}XyZ", "colab": {
        "base_uri": "https://localhost:8080/"}, "outputId": f"{index:04x}-e1b2-4c3d"},
        {"colab": {"provenance": [], "gpuType": "T4"}, "accelerator": "GPU",
         "kernelspec": {"name": "python3", "display_name": "Python 3"}, "language_info": {"name": "python"}},
        nbgrader=False)
    state = data["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    data["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"] = state["state"]  # Colab's shape
    return data


def as_vscode(notebook: nbformat.NotebookNode) -> dict:
    """As VS Code saves it: nbformat 4.4, no cell ids, the interpreter in the metadata."""
    return _saved(notebook, 4, False, lambda index: {},
                  {"vscode": {"interpreter": {"hash": "3ad933181bd8a04b432d3370b9dc3b0662ad032c4dfaa4e4f1596c548f763858"}}})


def save(data: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in SAVERS:
        print(f"usage: resave_notebooks.py {{{'|'.join(SAVERS)}}} NOTEBOOK OUT", file=sys.stderr)
        return 2
    saver = {"jupyterlab": as_jupyterlab, "colab": as_colab, "vscode": as_vscode}[argv[0]]
    save(saver(student_copy(nbformat.read(argv[1], as_version=4))), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
