"""pytorch_vfa's checks: a pytest suite, one ``test_<part>.py`` per part, one test per check.

``pytest assignments/pytorch_vfa/checks --submission PATH`` runs them on one
submission with pytest's own output; ``autograder grade`` drives the same suite.
"""
