"""The pytorch_vfa autograder: grades submissions against the reference solutions."""

__version__ = "0.1.0"
