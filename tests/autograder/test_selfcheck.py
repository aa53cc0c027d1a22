"""The self-check's parts on hand-made inputs: digests, the copied code, the public seed, bad calls.
(Its cases and results for each assignment: tests/assignments/test_selfcheck_cases.py; in a kernel:
tests/notebooks/test_selfcheck_kernel.py.)"""

from __future__ import annotations

import math
import sys

import pytest
import torch

from autograder.checks.framework import derive_seed
from autograder.compare import FLOAT32_STEP, compare
from autograder.selfcheck import build
from autograder.selfcheck.digest import Digested, compare_digested, digest, revive, value_digest
from autograder.worker import wire
from autograder.submission import load_notebook
from tests.course import POLICY_GRADIENT, PYTORCH_VFA
from tests.selfchecks import release_selfcheck


def received(value):
    """A value as the grader receives it from a probe."""
    return wire.loads(wire.dumps(value))


# --- digests ------------------------------------------------------------------------------------

def test_a_digest_ignores_dtype_layout_negative_zero_and_the_nans_bits():
    x = torch.tensor([[0.0, 1.5], [-2.0, math.nan]])
    same = [x.double(), x.t().contiguous().t(), torch.tensor([[-0.0, 1.5], [-2.0, -math.nan]])]
    assert not x.t().is_contiguous()
    for other in same:
        assert value_digest(received(other)) == value_digest(received(x))
    assert value_digest(received(x + 1e-7)) != value_digest(received(x))
    assert value_digest(1) == value_digest(1.0) == value_digest(-0.0 + 1) != value_digest(True)
    assert value_digest("cpu") != value_digest("cuda")


def test_a_digested_result_is_compared_as_grading_compares_its_form():
    expected = digest(received({"tensor": torch.ones(7, 8), "shares_storage": True}))
    assert compare_digested(received({"tensor": torch.ones(7, 8), "shares_storage": True}), expected).ok
    wrong_shape = compare_digested(received({"tensor": torch.ones(8, 7), "shares_storage": True}), expected)
    assert (wrong_shape.problem, wrong_shape.values_match) == ("shape", True)
    assert wrong_shape.message == compare(received({"tensor": torch.ones(8, 7), "shares_storage": True}),
                                          received({"tensor": torch.ones(7, 8), "shares_storage": True})).message
    wrong_dtype = compare_digested(received({"tensor": torch.ones(7, 8).double(), "shares_storage": True}), expected)
    assert (wrong_dtype.problem, wrong_dtype.values_match) == ("dtype", True)
    kind = compare_digested(received({"tensor": torch.ones(7, 8), "shares_storage": 1.0}), expected)
    assert kind.message == "result['shares_storage']: expected a bool, got a number"


def test_a_digested_value_that_differs_says_so_without_the_value():
    expected = digest(received({"tensor": torch.arange(6.0), "flag": False}))
    found = compare_digested(received({"tensor": torch.arange(6.0) * 2, "flag": False}), expected)
    assert found.problem == "values" and not found.values_match
    assert found.message == ("result['tensor']: differs from the right answer (the self-check holds only a digest "
                             "of it, not the value)")
    assert "5" not in found.message


def test_a_digested_result_survives_the_data_file():
    value = received({"tensor": torch.randn(3, 2), "device": "cuda", "n": 4, "nothing": None})
    stored = revive(wire.loads(wire.dumps({"expected": digest(value).to_data()})))["expected"]
    assert isinstance(stored, Digested) and stored.leaves == digest(value).leaves
    assert compare(stored.form, digest(value).form).ok
    assert compare_digested(value, stored).ok
    assert wire.to_data(digest(value).to_data())["form"]["tensor"]["data"] is None  # the form holds no values


def test_compare_digested_is_compare_for_stored_values():
    expected, got = received(torch.tensor([1.0, 2.0])), received(torch.tensor([1.0, 2.0 + 1e-6]))
    assert compare_digested(got, expected, FLOAT32_STEP).ok
    assert not compare_digested(received(torch.tensor([1.0, 2.1])), expected, FLOAT32_STEP).ok


# --- the copied code ------------------------------------------------------------------------------

def test_copied_modules_import_the_copy_next_to_them_and_keep_their_text():
    source = ('"""Example::\n\n    from autograder.worker.api import Api\n"""\n'
              "from autograder.worker import api, wire\nfrom autograder.compare import EXACT, \\\n    compare\n"
              "def f():\n    from autograder.worker.sandbox import gpu_device_nodes\n")
    assert build.vendored(source) == (
        '"""Example::\n\n    from autograder.worker.api import Api\n"""\n'
        "from . import api, wire\nfrom .compare import EXACT, \\\n    compare\n"
        "def f():\n    from .sandbox import gpu_device_nodes\n")


def test_a_copied_module_that_still_imports_the_engine_is_refused(tmp_path):
    path = tmp_path / "runtime.py"
    path.write_text("import autograder.worker.api\n")
    with pytest.raises(build.BuildError, match="still imports the engine"):
        build.imports_no_engine(path)
    path.write_text('"""from autograder import feedback"""\nfrom . import feedback\n')
    build.imports_no_engine(path)  # a docstring's example is no import


def test_a_folder_the_command_did_not_write_is_not_replaced(tmp_path):
    (tmp_path / "selfcheck").mkdir()
    (tmp_path / "selfcheck" / "notes.txt").write_text("the instructor's")
    with pytest.raises(build.BuildError, match="was not written by this command"):
        build.build(PYTORCH_VFA, tmp_path / "selfcheck")
    assert (tmp_path / "selfcheck" / "notes.txt").read_text() == "the instructor's"


def test_the_public_seed_is_one_grading_never_derives():
    for name in ("td0.update", "tensors.column", "baseline.run"):
        assert build.public_seed(name) >= 2**31
        assert all(derive_seed(base, name) < 2**31 for base in (0, 1, 20251, 2**40, -5))


# --- calling it ---------------------------------------------------------------------------------

def test_a_call_that_is_not_a_check_or_not_a_namespace_says_what_to_pass():
    selfcheck = release_selfcheck("pytorch_vfa")
    with pytest.raises(ValueError, match="no check called 'td0.updat'.*td0.update"):
        selfcheck.check("td0.updat", {})
    with pytest.raises(TypeError, match=r"pass the notebook's namespace, globals\(\); got NoneType"):
        selfcheck.check("td0.update", None)


def test_a_function_not_defined_yet_is_missing_as_in_grading(capsys):
    result = release_selfcheck("pytorch_vfa").check("tensors.column", {})
    assert (result.status, result.codes) == ("missing", ["missing"])
    printed = capsys.readouterr().out
    assert printed.startswith("tensors.column (self-check on 4 public cases; hidden tests grade it): missing\n")
    assert "Likely mistake [missing]: `column` is not defined in your notebook" in printed


@pytest.mark.parametrize("folder", ["source_dir", "release_dir"])
def test_autograder_grade_never_runs_a_cell_that_calls_the_self_check(folder):
    """`autograder grade` runs no test cell (its checks replace them): the visible ones, which call the
    self-check, included. Only `nbgrader autograde` runs them, beside the hidden ones."""
    for assignment in (PYTORCH_VFA, POLICY_GRADIENT):
        for notebook in assignment.notebooks:
            loaded = load_notebook(notebook, getattr(assignment, folder) / notebook, assignment)
            assert loaded.cells and not [c["id"] for c in loaded.cells if "selfcheck" in c["source"]]


CALLING_EACH_OTHER = """
def column(m, j):
    return columns_stacked(m)[j] * 2  # wrong, and it calls the other

def columns_stacked(m):
    return torch.stack([column(m, j) for j in range(m.shape[1])]) if m.shape[1] < 0 else m.T * 2
"""


def test_functions_that_call_each_other_are_each_checked_once():
    namespace = {"torch": torch}  # as a notebook defines them: globals of its namespace
    exec(CALLING_EACH_OTHER, namespace)
    result = release_selfcheck("pytorch_vfa").check("tensors.column", namespace, quiet=True)
    assert result.status == "failed"
    assert "`column` calls your `columns_stacked`, which fails its own self-check" in result.feedback


def test_an_exit_in_a_students_function_is_an_error_not_the_end_of_the_kernel():
    def column(m, j):
        raise SystemExit(3)

    result = release_selfcheck("pytorch_vfa").check("tensors.column", {"column": column}, quiet=True)
    assert (result.status, result.codes) == ("error", ["error"])
    assert "Got: SystemExit: 3" in result.feedback


def test_other_versions_of_torch_or_gymnasium_get_a_note_once(monkeypatch):
    import gymnasium

    runtime = sys.modules[release_selfcheck("pytorch_vfa").__name__ + ".runtime"]
    monkeypatch.setattr(runtime, "_NOTED", [])
    same = {"torch": torch.__version__.split("+")[0], "gymnasium": gymnasium.__version__}
    assert runtime._versions_note(same) is None
    note = runtime._versions_note({**same, "torch": "1.13.1"})
    assert note == (f"Note: the self-check's results were made with torch 1.13.1; this kernel has torch "
                    f"{torch.__version__}. Runs may then differ in their last digits or, for gymnasium, in their "
                    "episodes.")
    assert runtime._versions_note({**same, "torch": "1.13.1"}) is None  # once a kernel
