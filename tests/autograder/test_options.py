"""Options are declared once (autograder/options.py): the command line, the checks'
pytest plugin and the in-kernel checks read the same flag, default and help."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from autograder import in_kernel, options
from autograder.cli import build_parser
from autograder.grading import Options
from tests.course import PYTORCH_VFA, REPO


def engine_sources() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text() for p in (REPO / "autograder").rglob("*.py")
            if "__pycache__" not in p.parts}


def test_the_seed_default_is_written_once():
    written = [path for path, text in engine_sources().items() if re.search(r"\b20251\b", text)]
    assert written == ["autograder/options.py"]
    assert in_kernel.DEFAULT_SEED == Options(PYTORCH_VFA).seed == options.SEED.default == 20251


def test_the_command_line_takes_every_grading_option_from_its_declaration():
    grade = build_parser()._subparsers._group_actions[0].choices["grade"]
    actions = {action.dest: action for action in grade._actions}
    for option in options.GRADING:
        action = actions[option.dest]
        assert action.option_strings == [option.flag] and action.default == option.default
        assert action.help == option.help and action.choices == option.choices


@pytest.fixture(scope="module")
def pytest_help() -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return " ".join(done.stdout.split())


def test_the_pytest_plugin_takes_the_same_declarations(pytest_help):
    for option in options.GRADING:
        flag = option.pytest_flag or option.flag
        help_text = " ".join(option.help.replace("%(default)s", str(option.default)).split())
        assert re.search(re.escape(flag) + r"\b", pytest_help), flag
        assert help_text[:60] in pytest_help, (flag, help_text)


def test_the_time_limit_keeps_its_cli_spelling_and_has_another_under_pytest(pytest_help):
    assert options.TIMEOUT.flag == "--timeout" and options.TIMEOUT.pytest_flag == "--cell-timeout"
    assert "--timeout=TIMEOUT" in pytest_help  # pytest-timeout's own, untouched


@pytest.mark.parametrize("choice, cuda, expected", [("auto", False, "cpu"), ("auto", True, "cuda"),
                                                    ("cpu", True, "cpu"), ("cuda", True, "cuda")])
def test_one_device_resolution(choice, cuda, expected):
    assert options.resolve_device(choice, cuda_available=lambda: cuda) == expected


def test_cuda_without_cuda_and_unknown_devices_say_what_to_do():
    with pytest.raises(options.UsageError, match="--device cuda: CUDA is not available.*Use --device cpu or auto"):
        options.resolve_device("cuda", cuda_available=lambda: False)
    with pytest.raises(options.UsageError, match="--device 'tpu': choose one of auto, cpu, cuda"):
        options.resolve_device("tpu", cuda_available=lambda: False)


def test_a_memory_limit_must_be_positive():
    assert options.memory_bytes(2.0) == 2 * 2**30
    with pytest.raises(options.UsageError, match="--memory-limit must be positive, got 0"):
        options.memory_bytes(0)


def test_a_bad_pytest_option_is_a_usage_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", str(PYTORCH_VFA.checks_dir), "--submission",
                           str(tmp_path), "--device", "cuda" if not _has_cuda() else "tpu", "-p", "no:cacheprovider",
                           "-q"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]  # pytest's usage error
    assert "--device" in done.stderr


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
