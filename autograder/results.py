"""Results of grading, as plain dataclasses (serialised into every report format)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

TAMPERING_PREFIX = "tampering: "  #: how a note about tampering starts (``feedback.TAMPERING_NOTE``)


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str  #: stable check name, ``<group>.<check>``
    group: str  #: the part's score group
    score: float
    max_score: float
    status: str  #: passed, partial, failed, error, timeout or missing
    diagnosis: str | None = None  #: a diagnosis code of the spec, when one fits
    feedback: str = ""  #: what a student reads
    #: every code that fits, ``diagnosis`` first: a known mistake can be two at once (γ ignored twice, say)
    diagnoses: list[str] = field(default_factory=list)
    #: what the check measured along a run, for plots (:mod:`autograder.series` gives the shape)
    series: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SubmissionResult:
    """The outcome of grading one student's submission."""

    student: str
    path: str
    status: str = "graded"  #: graded, or error when it could not be graded at all
    error: str | None = None  #: why it could not be graded, or notes on what was missing
    score: float = 0.0
    max_score: float = 100.0
    duration_s: float = 0.0
    groups: dict[str, float] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    seed: int = 0  #: the base seed: ``--seed`` with it reproduces this run
    notes: list[str] = field(default_factory=list)  #: problems with the notebooks (cells that failed, …)
    #: what the submission did to read or change its grading, one line each (see :meth:`tampering_found`)
    tampering: list[str] = field(default_factory=list)

    def tampering_found(self) -> list[str]:
        """Every sign of tampering: ``tampering`` as set, the checks diagnosed
        ``tampering`` and the notes that say so (``feedback.TAMPERING_NOTE``)."""
        found = list(self.tampering)
        found += [f"check {c.name}" for c in self.checks if c.diagnosis == "tampering"]
        found += [note.removeprefix(TAMPERING_PREFIX) for note in self.notes if note.startswith(TAMPERING_PREFIX)]
        return list(dict.fromkeys(found))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["checks"] = [c.to_dict() for c in self.checks]
        data["tampering"] = self.tampering_found()
        return data
