"""``autograder gradescope-bundle``: the zip an instructor uploads to Gradescope as it is.

Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/specs/) unpacks it into
``/autograder/source``, runs ``setup.sh`` once as root when it builds the image, copies
``run_autograder`` to ``/autograder/run_autograder`` and runs that, as root, for each
submission (in ``/autograder/submission``); it reads ``/autograder/results/results.json``.

The zip holds:

* ``setup.sh``: a virtual environment in ``/opt/autograder/venv``, readable by all (student
  code runs as ``nobody`` and imports from it), with a CPU-only torch, the engine's
  requirements pinned to the versions installed where the bundle was built, and the engine;
* ``run_autograder``: makes ``source/`` (the course: reference, plug-in, instructor
  notebooks) and ``results/`` root's alone, reads the container's limits
  (:mod:`autograder.container`), and runs ``autograder grade`` on the submission;
* ``warm_cache``: run by ``setup.sh`` once the engine is installed: grades the instructor's
  own notebooks, which computes the reference's results on every case into ``source/cache``
  (and must give full marks), so that no submission's container computes them again;
* ``requirements.txt``, ``engine/`` (this engine's package, to install), ``course/`` (the
  assignment's plug-in, reference, source and release notebooks; no other assignment).
"""

from __future__ import annotations

import importlib.metadata
import shlex
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from autograder import __version__
from autograder.assignment import Assignment
from autograder.worker.staging import ENGINE_DIR

VENV = "/opt/autograder/venv"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  #: PyTorch's CPU-only wheels: no CUDA libraries (GBs)
EXECUTABLE = 0o755


def distribution() -> importlib.metadata.Distribution:
    """The installed distribution of this engine."""
    names = importlib.metadata.packages_distributions().get(ENGINE_DIR.name) or []
    if not names:
        raise RuntimeError(f"the engine at {ENGINE_DIR} is not installed (pip install .): its requirements are unknown")
    return importlib.metadata.distribution(names[0])


def _requires(dist: importlib.metadata.Distribution, extras: set[str]) -> list[Requirement]:
    found = []
    for text in dist.requires or []:
        requirement = Requirement(text)
        environment = default_environment()
        if requirement.marker is None or any(requirement.marker.evaluate({**environment, "extra": extra})
                                             for extra in extras | {""}):
            found.append(requirement)
    return found


def pinned_requirements(top: importlib.metadata.Distribution, separate: str = "torch") -> list[str]:
    """``name==version`` of everything the engine needs, as installed here (its dependencies and
    theirs, extras included), but ``separate`` and what only it needs (installed on its own)."""
    pins: dict[str, str] = {}
    todo = [(r, set(r.extras)) for r in _requires(top, set())]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in pins or name == separate:
            continue
        try:
            dist = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            raise RuntimeError(f"{requirement} (needed by the engine) is not installed here: install the engine "
                               "with its dependencies first") from None
        pins[name] = dist.version
        todo += [(r, set(r.extras)) for r in _requires(dist, extras)]
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def pyproject(dist: importlib.metadata.Distribution) -> str:
    """A pyproject.toml that installs the copied engine as this distribution (its dependencies are
    pinned in requirements.txt and installed first)."""
    groups: dict[str, list[str]] = {}
    for entry in dist.entry_points:
        groups.setdefault(entry.group, []).append(f"{entry.name!r} = {entry.value!r}".replace("'", '"'))
    scripts = "\n".join(groups.pop("console_scripts", []))
    tables = "".join(f'\n[project.entry-points."{group}"]\n' + "\n".join(lines) + "\n" for group, lines in groups.items())
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist.metadata['Name']}"
version = "{dist.version}"
requires-python = "{dist.metadata.get('Requires-Python') or '>=3.10'}"

[project.scripts]
{scripts}
{tables}
[tool.setuptools.packages.find]
include = ["{ENGINE_DIR.name}*"]
"""


def course_files(assignment: Assignment) -> list[Path]:
    """The assignment's files (plug-in, reference, source and release notebooks) and the
    ``__init__.py`` of the packages above its plug-in and its reference, relative to the course."""
    root = assignment.course_root
    found = set(assignment.files())
    for folder in (assignment.checks_dir.parent, assignment.reference_folder()):
        for parent in folder.parents:
            if parent == root or root not in parent.parents:
                break
            if (parent / "__init__.py").exists():
                found.add(parent / "__init__.py")
    outside = [str(p) for p in found if not p.resolve().is_relative_to(root.resolve())]
    if outside:
        raise RuntimeError(f"{assignment.name}: files outside its course {root}: {', '.join(outside)}")
    return sorted(p.resolve().relative_to(root.resolve()) for p in found)


def setup_script(torch_version: str) -> str:
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (with network access).
# Built by `autograder gradescope-bundle` (engine {__version__}, pins made with {python}).
set -euo pipefail
umask 022  # the environment must be readable by nobody: student code runs as nobody and imports from it
SOURCE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
PY={python}
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "$PY" "$PY-venv" || apt-get install -y -q python3 python3-venv
if ! command -v "$PY" >/dev/null; then
    echo "setup.sh: $PY, which requirements.txt was pinned with, is not available: trying $(python3 --version)" >&2
    PY=python3
fi
apt-get install -y -q bubblewrap || echo "setup.sh: no bubblewrap: student code will run as nobody without it" >&2
"$PY" -m venv {VENV}
{VENV}/bin/pip install --no-cache-dir --index-url {TORCH_INDEX} "torch=={torch_version}"
{VENV}/bin/pip install --no-cache-dir -r "$SOURCE/requirements.txt"
{VENV}/bin/pip install --no-cache-dir --no-deps "$SOURCE/engine"
AUTOGRADER_ROOT="$(dirname "$SOURCE")" bash "$SOURCE/warm_cache" \
    || echo "setup.sh: the reference's results were not computed ahead: each submission computes them" >&2
"""


def warm_script(assignment: Assignment) -> str:
    name = shlex.quote(assignment.name)
    return f"""#!/usr/bin/env bash
# setup.sh runs this once, as the image is built: grading the instructor's own notebooks computes
# the reference's results on every case into source/cache, where run_autograder's grading finds
# them (a submission then pays only for its own code). AUTOGRADER_ROOT, AUTOGRADER_PYTHON: as there.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-{VENV}/bin/python}}"
COURSE="$ROOT/source/course"
cd "$COURSE"
# the instructor's notebooks are trusted: no sandbox is needed (the build may not allow one)
"$PYTHON" -m autograder grade "$COURSE/source/"{name} --assignment {name} --course-root "$COURSE" \
    --cache "$ROOT/source/cache" --no-cache --sandbox process --format json --output "$ROOT/source/cache/instructor.json"
"$PYTHON" - "$ROOT/source/cache/instructor.json" <<'PY'
import json, sys
graded = json.load(open(sys.argv[1]))["submissions"][0]
if graded["score"] != graded["max_score"]:
    sys.exit(f"warm_cache: the instructor's notebooks scored {{graded['score']}}/{{graded['max_score']}}: "
             "the reference and the checks disagree")
PY
"""


def run_script(assignment: Assignment, visibility: list[str]) -> str:
    flags = " ".join(f"--visibility {shlex.quote(v)}" for v in visibility)
    return f"""#!/usr/bin/env bash
# Gradescope runs this as root for each submission. AUTOGRADER_ROOT (default /autograder) and
# AUTOGRADER_PYTHON let a test run it elsewhere; AUTOGRADER_SANDBOX: auto, bwrap or process.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-{VENV}/bin/python}}"
RESULTS="$ROOT/results/results.json"
umask 077
mkdir -p "$ROOT/results"
# The course (reference, plug-in, instructor notebooks) and the results are root's alone:
# student code runs as nobody and can read neither, nor write a result.
chmod 0700 "$ROOT/source" "$ROOT/results"

fail() {{  # a results.json that says what happened, for the student and the instructor (no silent 0)
    echo "run_autograder: $1" >&2
    "$PYTHON" - "$RESULTS" "$1" <<'PY' || echo '{{"score": 0.0, "output": "The autograder failed."}}' > "$RESULTS"
import json, sys
why = sys.argv[2]
json.dump({{"score": 0.0, "output": f"The autograder could not grade this submission ({{why}}). This is not your "
           "mistake: tell your instructor.", "extra_data": {{"error": why}}}}, open(sys.argv[1], "w"))
PY
    exit 1
}}

SANDBOX="${{AUTOGRADER_SANDBOX:-auto}}"
LIMITS="$("$PYTHON" -m autograder.container --sandbox "$SANDBOX")" \
    || fail "it could not keep student code from running as root"
cd "$ROOT/source/course" || fail "its course folder is missing"
# shellcheck disable=SC2086  # LIMITS is several flags
"$PYTHON" -m autograder grade "$ROOT/submission" --assignment {shlex.quote(assignment.name)} \\
    --course-root "$ROOT/source/course" --format gradescope --output "$RESULTS" \\
    --sandbox "$SANDBOX" --cache "$ROOT/source/cache" $LIMITS {flags} \\
    || fail "autograder grade exited with status $?"
"""


def _add(archive: zipfile.ZipFile, name: str, data: bytes | str, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build(assignment: Assignment, output: Path, visibility: list[str] | None = None) -> list[str]:
    """Write the bundle of ``assignment`` to ``output``; the names it holds."""
    dist = distribution()
    torch_version = importlib.metadata.version("torch").split("+")[0]
    with zipfile.ZipFile(output, "w") as archive:
        _add(archive, "setup.sh", setup_script(torch_version), EXECUTABLE)
        _add(archive, "run_autograder", run_script(assignment, visibility or []), EXECUTABLE)
        _add(archive, "warm_cache", warm_script(assignment), EXECUTABLE)
        _add(archive, "requirements.txt", "\n".join(pinned_requirements(dist)) + "\n")
        _add(archive, "engine/pyproject.toml", pyproject(dist))
        for path in sorted(ENGINE_DIR.rglob("*.py")):
            if "__pycache__" not in path.parts:
                _add(archive, f"engine/{ENGINE_DIR.name}/{path.relative_to(ENGINE_DIR).as_posix()}", path.read_bytes())
        for relative in course_files(assignment):
            _add(archive, f"course/{relative.as_posix()}", (assignment.course_root / relative).read_bytes())
        return archive.namelist()
