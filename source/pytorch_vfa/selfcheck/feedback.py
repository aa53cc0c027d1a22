"""What students read: the feedback templates, and the diagnosis codes every assignment shares.

An assignment explains its own codes (its plug-in's ``feedback.DIAGNOSES``)
and names the fields of its probes' results (``RESULT_FIELDS``). Codes are
stable: add new ones freely, never rename. Feedback never shows the
reference's code: only the call, expected vs got, the likely mistake and where
to look.
"""

from __future__ import annotations

import re

#: The codes every assignment can show; a plug-in explains its own (``feedback.DIAGNOSES``).
DIAGNOSES: dict[str, str] = {
    "missing": "`{function}` is not defined in your notebook: was its cell deleted, renamed or never run?",
    "not-implemented": "`{function}` still raises NotImplementedError: replace the stub with your code.",
    "error": "`{function}` raised {error}.",
    "timeout": "`{function}` did not finish within {time_limit:g} s: look for an infinite loop or far too much work.",
    "wrong-shape": "the values are right but the shape is not: check squeeze/unsqueeze and which axis you reduce.",
    "wrong-dtype": "the values are right but the dtype is not: keep the dtype of the inputs (or of the network).",
    "wrong-device": "your code creates tensors on the CPU instead of on the inputs' device: pass `device=` "
                    "(e.g. `device=state.device`) or use `torch.as_tensor(..., device=...)`.",
    "tampering": "the submission tried to change or read what grades it (the reference solutions, other "
                 "students' notebooks, the grader's code, files or report): such a check scores 0.",
}

#: For the instructor's class report: what to re-teach when a code hits many students, one line each.
#: A plug-in declares its own codes' lines (its ``feedback.RETEACH``); these are the shared codes'.
RETEACH: dict[str, str] = {
    "missing": "Notebook hygiene: keep every graded cell with its name and `def` line, and run the notebook top "
               "to bottom before submitting.",
    "not-implemented": "Which functions are graded: each stub's `raise NotImplementedError()` must be replaced; "
                       "show where the graded cells are.",
    "error": "Reading a traceback, and running the visible tests before submitting: the function raised on the "
             "graded inputs.",
    "timeout": "The cost of Python loops against tensor operations, and when an episode ends (terminated or "
               "truncated): the function never returned in time.",
    "wrong-shape": "Broadcasting, squeeze/unsqueeze and which axis a reduction runs over; print shapes while "
                   "developing.",
    "wrong-dtype": "dtypes: float32 by default, integers from Python ints; keep the dtype of the inputs or of the "
                   "network.",
    "wrong-device": "Device-agnostic code: create tensors on the inputs' device (`device=x.device`, "
                    "`torch.as_tensor(..., device=...)`), never on the CPU by default.",
    "tampering": "Academic integrity: reading or patching what grades a submission scores 0; talk to the students "
                 "named.",
}


def reteach(code: str, own: dict[str, str] | None = None) -> str | None:
    """What to re-teach for a diagnosis code (an assignment's ``own`` line first, then the shared ones)."""
    return (own or {}).get(code) or RETEACH.get(code)


#: a check's first line when graded; the students' self-check has its own (SELF_CHECK_HEADER)
CHECK_HEADER = "{name} ({score:g}/{max_score:g} points): {status}"

CHECK_BODY = """\
Called: {call}
{comparison}
{likely}
Where to look: {where}"""

#: one line of ``likely`` per diagnosis code (a known mistake may be several at once)
LIKELY_TEMPLATE = "Likely mistake [{diagnosis}]: {explanation}"

CHECK_BODY_NO_DIAGNOSIS = """\
Called: {call}
{comparison}
Where to look: {where}"""

MISSING_NOTEBOOK = "{notebook} could not be read, so nothing in it was graded."

PASSED_TEMPLATE = "{name} ({score:g}/{max_score:g} points): passed"

TAMPERING_TEMPLATE = """\
{name} (0/{max_score:g} points): failed
Likely mistake [tampering]: {explanation}
What the code did while it was checked: {what}
Where to look: {where}"""

#: a note on the submission (``SubmissionResult.notes``) about tampering outside the checks
TAMPERING_NOTE = "tampering: {where}: {what}"

FIRST_LIMIT_NOTE = ("\nIts limit was {limit:.3g} s: a case may take {factor:g} times what the reference takes on "
                    "it, at least {floor:g} s and at most {full:g} s, so that a function that never returns costs "
                    "seconds, not minutes.")
SHORTENED_NOTE = ("\nEach call of {hung} could take {limit:.3g} s here: it had already run out of time in this "
                  "submission, and a hang costs one limit, not one per case.")
NOT_RUN_AGAIN_NOTE = ("\n{hung} was not run again: it had run out of time in this submission and went on after its "
                      "limit struck, so it had to be stopped by force; a hang costs one limit, not one per case.")
#: error carried forward: a function right given its callees' mistakes, each counted once, where it is made
CARRIED_NOTE = "\n`{function}` is right, given your {given}: its mistake is counted once, there."
CARRIED_NOTE_MANY = "\n`{function}` is right, given your {given}: their mistakes are counted once, there."
UNTOLD_NOTE = ("\nWhether `{function}` is right given your {callees} cannot be told: it differentiates through "
               "their results, which the grader cannot replay without their graph.")

WHERE_TEMPLATE = "the cell that defines `{function}` in {notebook}, Part {part} ({title})"

# --- the students' self-check (autograder/selfcheck/): the same feedback, on public cases, no points ---
SELF_CHECK_HEADER = "{name} (self-check on {cases}; hidden tests grade it): {status}"
#: a value of a result that the self-check knows only by its digest (the answer itself: autograder/selfcheck/digest.py)
DIGEST_DIFFERS = "{path}: differs from the right answer (the self-check holds only a digest of it, not the value)"
SELF_CHECK_UNTOLD_CALLEE = ("\n`{function}` calls your {callees}, which fails its own self-check. Grading counts a "
                            "mistake once, where it is made: it may find `{function}` right given it, by rerunning the "
                            "reference on what yours returned, which the self-check cannot tell offline. Fix it first.")
SELF_CHECK_UNTOLD_CALLEES = ("\n`{function}` calls your {callees}, which fail their own self-checks. Grading counts "
                             "a mistake once, where it is made: it may find `{function}` right given them, by rerunning "
                             "the reference on what yours returned, which the self-check cannot tell offline. Fix those "
                             "first.")
SELF_CHECK_UNTOLD_BEHAVIOUR = ("\nGrading may still give half the points to a run that learns what the algorithm must "
                               "without replaying the spec's random draws; the self-check cannot tell that offline.")
SELF_CHECK_UNTOLD_DIAGNOSIS = ("\nGrading looks further for the mistake here (with runs or draws the self-check cannot "
                               "make offline) and may name it.")
SELF_CHECK_VERSIONS = ("Note: the self-check's results were made with {made}; this kernel has {here}. Runs may then "
                       "differ in their last digits or, for gymnasium, in their episodes.")


def explain(code: str, own: dict[str, str] | None = None, **context: object) -> str:
    """The explanation of a diagnosis code (an assignment's ``own`` first, then
    the shared ones), filled in with the check's context."""
    text = (own or {}).get(code) or DIAGNOSES.get(code, code)
    try:
        return text.format(**context)
    except (KeyError, IndexError, ValueError):
        return text


_FIELD = re.compile(r"^result\['([^']+)'\]")
_INDEX = re.compile(r"\[(\d+)\]")


def humanize(message: str, fields: dict[str, str] | None = None) -> str:
    """``result['step'][1]: …`` → ``the change of the network's weights (item 1): …``,
    with ``fields`` naming each field of a result (the assignment's ``RESULT_FIELDS``)."""
    fields = fields or {}
    path, sep, rest = message.partition(": ")
    if not sep or not path.startswith("result"):
        return message
    match = _FIELD.match(path)
    label, tail = (fields.get(match.group(1), match.group(1)), path[match.end():]) if match else \
        ("the result", path[len("result"):])
    tail = _INDEX.sub(lambda m: f" (item {m.group(1)})", tail).replace("['", " ['")
    return f"{label}{tail}: {rest}"
