"""Running a command as root where the unprivileged user ``nobody`` can use this Python.

Student code runs as ``nobody`` (uid 65534) where the grader is root; the
workers are forked from this Python and import from it, so ``nobody`` must be
able to read it. Where this Python lies in a folder others cannot enter (a
pyenv under ``/root``), :func:`where_nobody_sees_python` gives a mount namespace
of the command's own whose copy of that folder shows this Python only; nothing
changes outside it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
#: a probe: nobody reads this Python where this (root) process found it. A Python started as nobody may
#: find another installation (a system Python of the same version), but the grader's workers are forked
#: from this one and import from it
SEES_THIS_PYTHON = f"import os, sys; sys.exit(not os.access({sys.base_prefix!r}, os.R_OK | os.X_OK))"


def hidden_above(path: Path) -> Path | None:
    """The closest folder above ``path`` that others cannot enter (a Python under /root, say)."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return parent
    return None


def where_nobody_sees_python(scratch: Path, probe: str = "import torch") -> list[str] | None:
    """A prefix for a command (run as root) under which ``nobody`` can run this Python: none
    where it can already, else ``unshare --mount … sh -c SCRIPT sh``, which runs the command
    (``exec "$@"``) in a mount namespace of its own. None: neither works here. ``probe`` is
    Python code that ``nobody`` must be able to run; ``scratch`` a folder of the caller's."""
    if not shutil.which("setpriv"):
        return None
    check = [*AS_NOBODY, sys.executable, "-c", probe]
    if subprocess.run(check, capture_output=True, timeout=120).returncode == 0:
        return []
    base = Path(sys.base_prefix).resolve()
    hidden = hidden_above(base)
    if hidden is None or not shutil.which("unshare"):
        return None
    shown = hidden / base.relative_to(hidden).parts[0]  # e.g. /root/.pyenv
    keep = scratch / "shown"
    keep.mkdir()
    script = (f"mount --bind {shown} {keep} && mount -t tmpfs -o mode=0755 tmpfs {hidden} && mkdir -p {shown} && "
              f"mount --bind {keep} {shown} && exec \"$@\"")
    wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    if subprocess.run([*wrapped, *check], capture_output=True, timeout=120).returncode != 0:
        return None
    return wrapped
