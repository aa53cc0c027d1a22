"""nbgrader plug-ins of the assignment, registered in ``nbgrader_config.py``.

:class:`SkipExperimentCells` keeps experiment cells (training runs, plots)
from running during ``nbgrader autograde``. It runs in the sanitising stage,
after nbgrader's ``OverwriteCells``, and blanks every submitted code cell that
:func:`autograder.notebooks.classify_cells` matches to an experiment of the
SOURCE notebook, as ``autograder grade`` does: by nbgrader ``grade_id``, cell
id, or content for notebooks saved without ids (Colab, VS Code), and never a
cell that defines a graded name or a global that graded code reads. The
submission's own tags and metadata are never consulted for that decision.
"""

from __future__ import annotations

from pathlib import Path

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.notebooks import EXPERIMENT, classify_cells, source_notebook

SKIPPED_SOURCE = "# Experiment cell: not run when grading.\n"

_NO_COURSEDIR = (
    "SkipExperimentCells must run inside an nbgrader converter (it needs the "
    "course directory to find the source notebook); register it in "
    "c.Autograde.sanitize_preprocessors"
)


class SkipExperimentCells(NbGraderPreprocessor):
    """Blank the submitted cells that match experiments of the source notebook.

    A blanked cell keeps its id and place; its code becomes a one-line comment
    and its outputs are cleared, so the graded notebook shows what was skipped.
    nbgrader's test cells run here (they grade), so only experiments are
    skipped: a cell with a test's ``grade_id`` is a test whatever its id, and an
    empty test cell would be awarded its points.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict):
        source, release = self._notebooks(resources)
        choices = classify_cells(nb.cells, source_notebook(source, release), skipped_roles=(EXPERIMENT,))
        skipped = [choice.index for choice in choices if choice.skipped]
        self.log.info("Skipping %d experiment cell(s) of %s, matched to %s", len(skipped),
                      resources["nbgrader"]["notebook"], source)
        for index in skipped:
            cell = nb.cells[index]
            cell.source, cell.outputs, cell.execution_count = SKIPPED_SOURCE, [], None
        return nb, resources

    def _notebooks(self, resources: ResourcesDict) -> tuple[Path, Path]:
        """``source/<assignment>/<notebook>.ipynb`` of the course being graded, and its release."""
        coursedir = self._coursedir()
        assignment, name = resources["nbgrader"]["assignment"], f"{resources['nbgrader']['notebook']}.ipynb"
        return tuple(Path(coursedir.format_path(folder, ".", assignment)) / name
                     for folder in (coursedir.source_directory, coursedir.release_directory))

    def _coursedir(self) -> CourseDirectory:
        # The exporter that owns this preprocessor belongs to nbgrader's converter,
        # which holds the course directory that the command line configured.
        owner = self.parent
        while owner is not None:
            coursedir = getattr(owner, "coursedir", None)
            if isinstance(coursedir, CourseDirectory):
                return coursedir
            owner = getattr(owner, "parent", None)
        raise RuntimeError(_NO_COURSEDIR)
