"""nbgrader plug-ins of the assignment, registered in ``nbgrader_config.py``.

:class:`SkipExperimentCells` keeps experiment cells (training runs, plots)
from running during ``nbgrader autograde``. It runs in the sanitising stage,
after nbgrader's ``OverwriteCells``, and blanks every submitted code cell whose
id the SOURCE notebook lists as an experiment (see
:func:`autograder.notebooks.experiment_cell_ids`). The submission's own tags
and metadata are never consulted for that decision.
"""

from __future__ import annotations

from pathlib import Path

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.notebooks import experiment_cell_ids, graded_cell_ids

SKIPPED_SOURCE = "# Experiment cell: not run when grading.\n"

_NO_COURSEDIR = (
    "SkipExperimentCells must run inside an nbgrader converter (it needs the "
    "course directory to find the source notebook); register it in "
    "c.Autograde.sanitize_preprocessors"
)


class SkipExperimentCells(NbGraderPreprocessor):
    """Blank the submitted cells that the source notebook marks as experiments.

    A blanked cell keeps its id and place; its code becomes a one-line comment
    and its outputs are cleared, so the graded notebook shows what was skipped.
    A test cell of the source is never blanked, even when a student gave it an
    experiment's id: an empty test cell would be awarded its points.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict):
        source = self._source_notebook(resources)
        self._experiment_ids = experiment_cell_ids(source)
        self._graded_ids = graded_cell_ids(source)
        self.log.info("Skipping %d experiment cell(s) listed in %s",
                      len(self._experiment_ids), source)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, index: int):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        is_test = utils.is_grade(cell) and grade_id in self._graded_ids
        if cell.cell_type == "code" and cell.get("id") in self._experiment_ids and not is_test:
            cell.source = SKIPPED_SOURCE
            cell.outputs = []
            cell.execution_count = None
        return cell, resources

    def _source_notebook(self, resources: ResourcesDict) -> Path:
        """``source/<assignment>/<notebook>.ipynb`` of the course being graded."""
        coursedir = self._coursedir()
        folder = coursedir.format_path(
            coursedir.source_directory, ".", resources["nbgrader"]["assignment"])
        return Path(folder) / f"{resources['nbgrader']['notebook']}.ipynb"

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
