"""Shared test setup: one torch thread (far faster than two on busy small machines)."""

import torch

torch.set_num_threads(1)


import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def installed_python(tmp_path_factory) -> Path:
    """The Python of a fresh environment with the engine installed from this
    checkout, as `pip install .` does (not editable), and nothing of the course.

    The environment has no pip and no packages of its own: its dependencies
    come from the test run's environment (a .pth file), so that no download is
    needed; what it imports as ``autograder`` is the copy pip installed in its
    own site-packages. The project is copied first, so that pip's build leaves
    nothing in the checkout."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "project"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "autograder", source / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=INSTALL_TIMEOUT_S)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    (site / "test-run-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                           "--no-build-isolation", "--quiet", str(source)], capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (site / "autograder" / "__init__.py").is_file() and not list(site.glob("__editable__*"))
    return python
