"""The container's limits as ``autograder grade`` options (what the Gradescope bundle grades with)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.container import MIN_MEMORY_GIB, Resources, machine, resources

GIB = 2**30
MEMINFO = "MemTotal:       16384000 kB\nMemFree:         1000 kB\n"  # 15.6 GiB


def fake_root(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"proc/meminfo": MEMINFO, **files}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.fixture
def cpus() -> int:
    return machine().cpus  # the CPUs this process may run on: a container's limit is capped by them


def test_cgroup_v2_limits(tmp_path, cpus):
    root = fake_root(tmp_path, {"sys/fs/cgroup/cgroup.controllers": "cpu memory",
                                "sys/fs/cgroup/cpu.max": "150000 100000\n", "sys/fs/cgroup/memory.max": f"{3 * GIB}\n"})
    assert resources(root) == Resources(min(cpus, 2), 3 * GIB, "cgroup v2")


def test_cgroup_v2_without_limits_is_the_machine(tmp_path, cpus):
    root = fake_root(tmp_path, {"sys/fs/cgroup/cgroup.controllers": "cpu memory",
                                "sys/fs/cgroup/cpu.max": "max 100000\n", "sys/fs/cgroup/memory.max": "max\n"})
    assert resources(root) == Resources(cpus, 16384000 * 1024, "machine")


def test_cgroup_v1_limits(tmp_path, cpus):
    root = fake_root(tmp_path, {"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "100000\n",
                                "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
                                "sys/fs/cgroup/memory/memory.limit_in_bytes": f"{GIB * 6}\n"})
    assert resources(root) == Resources(1, 6 * GIB, "cgroup v1")


def test_cgroup_v1_without_limits_and_no_cgroup_at_all_are_the_machine(tmp_path, cpus):
    v1 = fake_root(tmp_path / "v1", {"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
                                     "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"})
    assert resources(v1) == resources(fake_root(tmp_path / "none", {})) == Resources(cpus, 16384000 * 1024, "machine")


def test_a_container_never_gets_more_than_the_machine(tmp_path, cpus):
    root = fake_root(tmp_path, {"sys/fs/cgroup/cgroup.controllers": "", "sys/fs/cgroup/cpu.max": "6400000 100000",
                                "sys/fs/cgroup/memory.max": str(64 * GIB)})
    assert resources(root) == Resources(cpus, 16384000 * 1024, "cgroup v2")


@pytest.mark.parametrize("found, flags", [
    (Resources(2, 16 * GIB, "cgroup v2"), ["--jobs", "2", "--memory-limit", "4"]),  # at most the default
    (Resources(2, 6 * GIB, "cgroup v2"), ["--jobs", "2", "--memory-limit", "2.5"]),  # (6 - 1) / 2
    (Resources(1, GIB, "cgroup v1"), ["--jobs", "1", "--memory-limit", f"{MIN_MEMORY_GIB:g}"]),  # what torch needs
])
def test_options_share_the_memory_among_the_jobs(found, flags):
    assert found.grade_options() == flags
