"""Grading on a Dask cluster: ``autograder grade PATH... --dask ADDRESS`` (the ``cluster`` extra).

The client (:mod:`autograder.cluster.client`) reads the course and the
submissions; nothing assumes a disk shared with the workers. What travels
(:mod:`autograder.cluster.shipping`):

* once per Dask worker, in a worker plug-in (:mod:`autograder.cluster.worker`):
  the assignment's files as a course root (its plug-in, reference, source and
  release notebooks), the grading options, and the fingerprints the client
  computed (:func:`autograder.cache.engine_fingerprint`,
  :func:`autograder.cache.grader_fingerprint`);
* per submission, a task: its notebooks' bytes, read here with
  :mod:`autograder.nbfile`'s checks (a notebook refused here is refused there
  alike);
* back, the :class:`~autograder.results.SubmissionResult`, with the client's
  paths.

Each Dask worker runs one long-lived grading process
(:mod:`autograder.cluster.child`), with a main thread of its own and its warm
worker host: Dask runs tasks in threads of daemonic processes, where
pytest-timeout's signals and multiprocessing children are not to be had.
"""
