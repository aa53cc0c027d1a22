"""Reference implementations, one package per assignment (``solutions.<assignment>``).

These are the answers: the grader compares students' code with them, and
student code can never import or read them while it is graded.
"""
