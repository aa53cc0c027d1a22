"""The students' self-check: a graded function's check, run on public cases in the student's own kernel.

``make release`` (``autograder selfcheck ASSIGNMENT``, :mod:`autograder.selfcheck.build`) writes
``source/<assignment>/selfcheck/``, which ``nbgrader generate_assignment`` copies into the
release: a small copy of the engine's modules that the self-check needs (the probe API, the
data encoding, the comparison, the feedback templates and scoring rules, the plug-in's probes,
:mod:`autograder.selfcheck.digest` and :mod:`autograder.selfcheck.runtime`), every import of
``autograder`` rewritten to the copy, and the data: each check's public cases with the results
of the reference and of each known mistake on them. No reference code, no hidden case.
"""
