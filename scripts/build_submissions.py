"""Build student-like submissions: an assignment's instructor notebooks with some cells rewritten.

An edit file (``tests/fixtures/submissions/<assignment>/*.py``,
``examples/students/<assignment>/*.py``) is a student's version of a few
functions, in percent format; the folder it lies in names the assignment::

    # notebook: value_approximation.ipynb   (optional: the only notebook to write)
    # expect: td0.update=td-error-as-loss   (tests only; or: all)
    # release: true                         (optional: start from the release, not the source)
    # %% replaces: semi_gradient_td0_update
    def semi_gradient_td0_update(...): ...
    # %% deletes: column

Each section replaces (or deletes) the solution cell that defines that name in
the SOURCE notebook, so submissions follow the notebooks as they change.

    python scripts/build_submissions.py examples/students/pytorch_vfa out/examples/submitted
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
_SECTION = re.compile(r"^# %% (replaces|deletes): (\w+)\s*$", re.MULTILINE)


def notebooks_of(assignment: str) -> tuple[str, ...]:
    """The assignment's notebooks, as its source folder holds them."""
    return tuple(sorted(p.name for p in (ROOT / "source" / assignment).glob("*.ipynb")))


@dataclass
class Edits:
    """A submission described as edits of an assignment's instructor notebooks."""

    name: str
    assignment: str
    notebooks: tuple[str, ...] = ()
    expect: dict[str, str] = field(default_factory=dict)  #: check name -> diagnosis code
    release: bool = False
    edits: list[tuple[str, str, str]] = field(default_factory=list)  #: (action, name, new source)


def read_edits(path: Path) -> Edits:
    text = path.read_text()
    first = _SECTION.search(text)
    header = text[: first.start()] if first else text
    result = Edits(path.stem, path.parent.name, notebooks_of(path.parent.name))
    notebook = re.search(r"^# notebook: (\S+)", header, re.MULTILINE)
    if notebook:
        result.notebooks = (notebook.group(1),)
    result.release = re.search(r"^# release: true", header, re.MULTILINE) is not None
    for line in re.findall(r"^# expect: (.+)$", header, re.MULTILINE):
        if line.strip() != "all":
            check, code = line.strip().split("=")
            result.expect[check] = code
    parts = _SECTION.split(text)[1:]
    for action, name, body in zip(parts[0::3], parts[1::3], parts[2::3]):
        result.edits.append((action, name, body.strip() + "\n"))
    return result


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^(def|class) {name}\b", source, re.MULTILINE) is not None


def build(edits: Edits, dest: Path, notebooks: tuple[str, ...] | None = None) -> Path:
    """Write the submission into ``dest/<name>/<assignment>/``; return that folder.
    ``notebooks``: write these instead of the edits' own (the others untouched)."""
    folder = dest / edits.name / edits.assignment
    folder.mkdir(parents=True, exist_ok=True)
    for notebook in notebooks or edits.notebooks:
        start = ROOT / ("release" if edits.release else "source") / edits.assignment / notebook
        nb = nbformat.read(start, as_version=4)
        for action, name, body in edits.edits:
            index = next((i for i, cell in enumerate(nb.cells)
                          if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
                          and _defines(cell.source, name)), None)
            if index is None:
                continue  # defined in another notebook
            if action == "deletes":
                del nb.cells[index]
            else:
                nb.cells[index].source = body
        nbformat.write(nb, str(folder / notebook))
    return folder


def build_all(edit_dir: Path, dest: Path) -> list[Path]:
    return [build(read_edits(path), dest) for path in sorted(edit_dir.glob("*.py"))]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/build_submissions.py EDITS_DIR/<assignment> DEST")
    for folder in build_all(Path(sys.argv[1]), Path(sys.argv[2])):
        print(f"built {folder.relative_to(Path.cwd()) if folder.is_relative_to(Path.cwd()) else folder}")
