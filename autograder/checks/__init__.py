"""The checks: a pytest suite, one test per check, run against one submission.

``pytest autograder/checks --submission PATH`` shows pytest's own output;
``autograder grade`` drives the same suite and turns it into reports.
"""
