"""nbgrader configuration of the pytorch_vfa course; the course root is this folder.

Run nbgrader from here: ``nbgrader generate_assignment pytorch_vfa`` builds
``release/pytorch_vfa/`` from ``source/pytorch_vfa/``, and
``nbgrader autograde pytorch_vfa`` grades ``submitted/<student>/pytorch_vfa/``.
The source, release, submitted and autograded folders keep nbgrader's default
names.
"""

from nbgrader.converters import Autograde
from nbgrader.preprocessors import OverwriteCells

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "rldmuu"

# A graded test cell that writes anything to stderr scores zero in nbgrader
# (utils.determine_grade), and PyTorch and gymnasium print warnings there. The
# IgnorePattern preprocessor runs between Execute and SaveAutoGrades; this
# pattern matches every stderr stream, so only an exception fails a test.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]*"

# Experiment cells never run when grading: after nbgrader restored the locked
# cells, SkipExperimentCells blanks the submitted cells whose id the SOURCE
# notebook marks as an experiment (autograder/notebooks.py). It is named by
# its import path, so a missing package fails loudly instead of being skipped;
# nbgrader's own sanitising steps are kept, in their order.
_sanitize = list(Autograde.class_traits()["sanitize_preprocessors"].default())
_sanitize.insert(_sanitize.index(OverwriteCells) + 1,
                 "autograder.nbgrader_hooks.SkipExperimentCells")
c.Autograde.sanitize_preprocessors = _sanitize

# Seconds per cell: the hidden tests take a few seconds at most.
c.Execute.timeout = 60
