"""What a container lets the grader use, as ``autograder grade`` options: its CPU and memory
limits (cgroup v2, else v1), else the machine's (``nproc``, ``/proc/meminfo``).

``python -m autograder.container`` prints ``--jobs N --memory-limit GIB`` for the
Gradescope bundle's ``run_autograder``; it exits 2, saying why, where student code
would run as root (no bubblewrap, and ``nobody`` cannot run this Python).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder import options

#: a worker has torch, gymnasium and matplotlib mapped before any student code (0.7 GiB of address space
#: measured): below this, --memory-limit (RLIMIT_AS) would stop honest code
MIN_MEMORY_GIB = 1.5
#: what the grading process and the worker host hold besides the workers (about 1 GiB measured, with margin)
GRADER_GIB = 1.0
NO_LIMIT = 2**60  #: cgroup v1 writes "no limit" as a number near 2**63


@dataclass(frozen=True)
class Resources:
    """CPUs and memory this process may use, and where that was read."""

    cpus: int
    memory_bytes: int
    source: str  #: "cgroup v2", "cgroup v1" or "machine"

    def grade_options(self) -> list[str]:
        """``--jobs``: a submission per CPU; ``--memory-limit``: what is left after the grader, shared
        among the jobs, at most the default and never under :data:`MIN_MEMORY_GIB`."""
        share = (self.memory_bytes / 2**30 - GRADER_GIB) / self.cpus
        gib = max(MIN_MEMORY_GIB, min(float(options.MEMORY_LIMIT.default), math.floor(share * 10) / 10))
        return ["--jobs", str(self.cpus), options.MEMORY_LIMIT.flag, f"{gib:g}"]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def machine(root: Path = Path("/")) -> Resources:
    """The machine's CPUs (those this process may run on) and memory (MemTotal)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    memory = NO_LIMIT
    for line in (_read(root / "proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) * 1024
    return Resources(cpus, memory, "machine")


def resources(root: Path = Path("/")) -> Resources:
    """The container's limits where its cgroup sets them, each capped by the machine's."""
    here = machine(root)
    cgroup = root / "sys/fs/cgroup"
    quota = period = memory = None
    if (cgroup / "cgroup.controllers").exists():  # v2: "max 100000" or "200000 100000"; "max"
        source = "cgroup v2"
        cpu = (_read(cgroup / "cpu.max") or "max").split()
        quota, period = _number(cpu[0]), _number(cpu[1] if len(cpu) > 1 else None)
        memory = _number(_read(cgroup / "memory.max"))
    else:  # v1: a quota of -1 is none; "no limit" is a number near 2**63
        source = "cgroup v1"
        quota, period = _number(_read(cgroup / "cpu/cpu.cfs_quota_us")), _number(_read(cgroup / "cpu/cpu.cfs_period_us"))
        memory = _number(_read(cgroup / "memory/memory.limit_in_bytes"))
    cpus = math.ceil(quota / period) if quota and quota > 0 and period else None
    memory = memory if memory and memory < NO_LIMIT else None
    if cpus is None and memory is None:
        return here
    return Resources(max(1, min(here.cpus, cpus or here.cpus)), min(here.memory_bytes, memory or here.memory_bytes),
                     source)


def root_blocker(sandbox: str = "auto") -> str | None:
    """Why student code would run as root here, or None: root, in process mode (``--sandbox
    process``, or ``auto`` without bubblewrap), and ``nobody`` cannot run this Python or reach
    the temporary folder."""
    from autograder.worker.sandbox import choose_mode, unprivileged_blocker

    if os.geteuid() != 0 or choose_mode(sandbox) == "bwrap":
        return None
    return unprivileged_blocker(Path(tempfile.gettempdir()) / "autograder")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m autograder.container", description=__doc__.split("\n\n")[0])
    options.add_to_argparse(parser, (options.SANDBOX,))
    blocker = root_blocker(parser.parse_args(argv).sandbox)
    if blocker:
        print(f"autograder.container: student code would run as root here ({blocker}): install Python where "
              "others can read it (the bundle's setup.sh does) and keep TMPDIR open to them", file=sys.stderr)
        return 2
    found = resources()
    print(f"autograder.container: {found.cpus} CPU(s), {found.memory_bytes / 2**30:.1f} GiB ({found.source})",
          file=sys.stderr)
    print(" ".join(found.grade_options()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
