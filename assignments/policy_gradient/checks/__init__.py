"""policy_gradient's checks: a pytest suite, one ``test_<part>.py`` per part, one test per check.

``pytest assignments/policy_gradient/checks --submission PATH`` runs them on one
submission with pytest's own output; ``autograder grade`` drives the same suite.
"""
