"""Running a submission's code in a separate process that only exchanges data.

Inside a worker (and copied into its sandbox, :mod:`staging`): ``api`` (what
an assignment's probes import), ``serve`` (a worker's loop), ``cells`` (running
a student's cell), ``probing`` (answering a probe), ``recording`` (the calls
a graded function makes to the others), ``guard`` (what student
code does to its grading), ``limits``, ``wrapping`` (both wrap the student's
functions), ``seeding``, ``framing`` and ``wire``
(the data-only messages), ``zygote`` (the pre-warmed parents that fork
workers) and ``sandbox`` (confinement and process tables).

On the grader's side: ``host`` and ``client`` (start, talk to and kill the
workers), ``staging`` (what a sandbox shows of the grader).
"""

#: the modules of this package that run inside a worker: the only ones copied into its sandbox
SANDBOXED = ("api", "cells", "framing", "guard", "limits", "probing", "recording", "sandbox", "seeding", "serve",
             "wire", "wrapping", "zygote")
