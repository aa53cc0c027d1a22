"""An autograder for notebook assignments: grades submissions against a reference and names each mistake.

The engine; each assignment is a plug-in of a course directory (``autograder.assignment``, ``autograder.course``).
"""

__version__ = "0.1.0"
