"""The pieces that name tampering, one by one and fast: the worker's guard (in a
fresh interpreter, as in a worker), tensor subclasses at the probe boundary,
forged wire data, and the notebook metadata check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import assignments.pytorch_vfa.probes as probes
from autograder.results import SubmissionResult
from autograder.submission import load_notebook
from autograder.worker import api, staging, wire
from autograder.worker.host import worker_config
from autograder.worker.probing import StudentApi
from autograder.worker.sandbox import Limits
from tests.adversarial.attacks import ROOT, honest_release_notebook, metadata_notebook
from tests.course import PYTORCH_VFA

PLUGIN = ROOT / "assignments" / "pytorch_vfa"

#: cell -> (the error it ends with, or None; a phrase the guard's findings must contain)
CAUGHT = {
    "import solutions": ("ModuleNotFoundError", "imported the reference solutions"),
    "from solutions.pytorch_vfa.td import td_target": ("ModuleNotFoundError", "imported the reference solutions"),
    "import autograder.compare": ("ModuleNotFoundError", "imported the grader's module"),
    "import autograder.checks.framework": ("ModuleNotFoundError", "imported the grader's module"),
    "import assignments.pytorch_vfa.mistakes": ("ModuleNotFoundError", "imported the grader's module"),
    "from assignments.pytorch_vfa.checks import test_td0": ("ModuleNotFoundError", "imported the grader's module"),
    "import importlib\nimportlib.import_module('assignments.pytorch_vfa.feedback')":
        ("ModuleNotFoundError", "imported the grader's module"),
    f"open({str(ROOT / 'solutions' / 'pytorch_vfa' / 'td.py')!r})": ("Refused", "read the reference solutions"),
    f"open({str(PLUGIN / 'mistakes.py')!r})": ("Refused", "read the grader's files"),
    f"open({str(PLUGIN / 'checks' / 'test_td0.py')!r})": ("Refused", "read the grader's files"),
    f"open({str(ROOT / 'autograder' / 'checks' / 'framework.py')!r})": ("Refused", "read the grader's files"),
    f"import io\nio.open_code({str(PLUGIN / 'mistakes.py')!r})": ("Refused", "read the grader's files"),
    f"import importlib.util\nspec = importlib.util.spec_from_file_location('m', {str(PLUGIN / 'mistakes.py')!r})\n"
    "spec.loader.exec_module(importlib.util.module_from_spec(spec))": ("Refused", "read the grader's files"),
    f"import os\nos.listdir({str(PLUGIN)!r})": ("Refused", "listed the grader's files"),
    f"import glob\nglob.glob({str(ROOT / 'assignments') + '/*/*.py'!r})": ("Refused", "listed the grader's files"),
    f"open({str(ROOT / 'source' / 'pytorch_vfa' / 'pytorch_basics.ipynb')!r})": ("Refused", "read a notebook"),
    "import glob\nglob.glob('../*/pytorch_vfa/*.ipynb')": ("Refused", "searched for solutions or notebooks"),
    "import os\nos.listdir('/tmp/submitted')": ("Refused", "searched for solutions or notebooks"),
    "import glob, sys\nopen(glob.glob(sys.prefix + '/lib/python*/site-packages/__editable__*finder.py')[0])":
        ("Refused", "install record"),
    "open('/proc/1/cmdline')": ("Refused", "read another process"),
    "open('/work/adversarial-guard-test', 'w')": ("Refused", "wrote outside its scratch folder"),
    "open('results.json', 'w').write('{}')": (None, "named like a grader's output"),
    "print('{\"submissions\": [], \"max_score\": 100}')": (None, "shaped like a grade report"),
    "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)": ("Refused", "network connection"),
    "import subprocess\nsubprocess.run(['cat', '/work/main/solutions/td.py'])": ("Refused", "ran a program"),
    f"import subprocess\nsubprocess.run(['cat', {str(PLUGIN / 'mistakes.py')!r}])": ("Refused", "ran a program"),
    "import os\nos.kill(-1, 0)": ("Refused", "kill the grader"),
    "import os\nos.kill(os.getppid(), 0)": ("Refused", "kill the grader"),
    "import sys\nsys._getframe(1)": (None, "stack frames"),
    "import inspect\ninspect.stack()": (None, "stack frames"),
    "import sys\nsys.settrace(None)": (None, "traced"),
    "import torch\ntorch.allclose = lambda *a, **k: True": (None, "patched `torch.allclose`"),
    "import numpy\nnumpy.array_equal = lambda *a, **k: True": (None, "patched `numpy.array_equal`"),
    "import torch\ntorch.Tensor.__eq__ = lambda s, o: True": (None, "added `torch.Tensor.__eq__`"),
    "import torch\ntorch.Tensor.grad_fn = property(lambda s: None)": (None, "added `torch.Tensor.grad_fn`"),
    "import builtins\nbuiltins.isinstance = lambda *a: True": (None, "patched `builtins.isinstance`"),
    "import assignments.pytorch_vfa.probes as probes\nprobes.flat_view = None":
        (None, "patched `assignments.pytorch_vfa.probes.flat_view`"),
    "from autograder.worker import api\napi.run = None": (None, "patched `autograder.worker.api.run`"),
    "import assignments.pytorch_vfa.probes as probes\nprobes.flat_view.__code__ = probes.select_device.__code__":
        (None, "replaced the code of `assignments.pytorch_vfa.probes.flat_view`"),
    "import assignments.pytorch_vfa.probes as probes\nprobes.flat_view.__defaults__ = ('meta',)":
        (None, "replaced the code of `assignments.pytorch_vfa.probes.flat_view`"),
    ("import os, time\nchild = os.fork()\nif child == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
     "        time.sleep(60)\n    os._exit(0)\nos.waitpid(child, 0)\ntime.sleep(0.3)"): (None, "left a process running"),
    ("import subprocess, time\nsubprocess.Popen(['sleep', '60'], start_new_session=True)\ntime.sleep(0.3)"):
        (None, "left a process running"),
}

#: what honest notebooks do: none of it is tampering
LEGIT = [
    "import numpy as np, torch, torch.nn as nn, torch.nn.functional as F, gymnasium as gym\n"
    "env = gym.make('CartPole-v1'); env.reset(seed=0); env.step(0); env.close()",
    "import traceback, warnings, logging\ntraceback.print_stack()\nwarnings.warn('careful')\nlogging.warning('x')",
    "import collections, typing, dataclasses, enum\nP = collections.namedtuple('P', 'a b')\nT = typing.TypeVar('T')\n"
    "E = enum.Enum('E', 'A B')\n@dataclasses.dataclass\nclass D:\n    a: int = 1",
    "import tempfile, os, torch\nwith tempfile.NamedTemporaryFile() as f:\n    torch.save(torch.ones(2), f.name)\n"
    "torch.save({'w': torch.ones(2)}, 'model.pt'); torch.load('model.pt')",
    "import torch\nx = torch.ones(3, requires_grad=True)\n(x * 2).sum().backward()\n"
    "opt = torch.optim.SGD([x], lr=0.1); opt.step(); opt.zero_grad()\ntorch.optim.Adam([x]).step()",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.savefig('plot.png'); plt.close('all')",
    "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'print(1)'], capture_output=True, timeout=60)",
    "try:\n    1 / 0\nexcept ZeroDivisionError:\n    import traceback; traceback.print_exc()",
    "import os\nos.listdir('.')\nopen('notes.txt', 'w').write('mine')\nimport glob; glob.glob('*.txt')",
    "import torch\ntorch.manual_seed(0); torch.set_printoptions(precision=3)\nimport numpy as np; np.random.seed(0)",
    # the code the worker runs is its own to read: tracebacks and inspect do, for honest students too
    "import inspect, assignments.pytorch_vfa.probes as p, autograder.worker.api as a\n"
    "assert 'def td0_update' in inspect.getsource(p) and 'class Api' in inspect.getsource(a)",
    "import assignments.pytorch_vfa.probes as p\ntry:\n    p.make_mlp('x', 0, 'cpu')\nexcept Exception:\n"
    "    import traceback; traceback.print_exc()",
]

# A worker without its sandbox (as in --sandbox process): the staged code, the guard the host configures.
SCRIPT = r"""
import importlib, json, os, sys, tempfile
stage, config = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, stage)  # as staging.boot_command does
from autograder.worker import cells, probing, zygote
from autograder.worker.api import probes_of
from autograder.worker.serve import guard_for
zygote.preload(config["probes"])  # as the worker host does before any worker (matplotlib builds its font cache then)
probes = importlib.import_module(config["probes"])
os.chdir(tempfile.mkdtemp())
os.environ["TMPDIR"] = tempfile.tempdir = os.getcwd()  # as zygote.become_worker does
guard = guard_for(config, probes)
namespace = {"__name__": "__main__"}
results = []
for index, source in enumerate(json.load(sys.stdin)):
    reply = cells.run_cell(namespace, {"index": index, "source": source}, 60, guard)
    results.append({"error": (reply.get("error") or {}).get("type"), "tampering": reply["tampering"]})
print(json.dumps(results))
"""


def worker_script(script: str, cells: list[str], tmp: Path) -> dict | list:
    """``script`` run on ``cells`` in a fresh interpreter from the staged worker code, as a worker is run."""
    code = PYTORCH_VFA.worker_code()
    stage = staging.stage(tmp / "stage", code)
    config = worker_config(code, "process", Limits(), stage, scratch_root=str(tmp))
    done = subprocess.run([sys.executable, "-I", "-B", "-c", script, str(stage), json.dumps(config)],
                          input=json.dumps(cells), capture_output=True, text=True, timeout=300, cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def run_cells(cells: list[str], tmp: Path) -> list[dict]:
    """Cells run one after another in a fresh interpreter with a guard, as in a worker."""
    return worker_script(SCRIPT, cells, tmp)


@pytest.fixture(scope="module")
def caught(tmp_path_factory) -> dict[str, dict]:
    return dict(zip(CAUGHT, run_cells(list(CAUGHT), tmp_path_factory.mktemp("caught"))))


@pytest.mark.parametrize("cell", list(CAUGHT), ids=range(len(CAUGHT)))
def test_the_guard_names_and_refuses(caught, cell):
    error, phrase = CAUGHT[cell]
    assert caught[cell]["error"] == error
    assert any(phrase in what for what in caught[cell]["tampering"]), caught[cell]["tampering"]


def test_the_guard_puts_back_what_was_patched(tmp_path):
    cells = ["import torch, numpy\ntorch.allclose = None\ntorch.Tensor.__eq__ = None\nnumpy.allclose = None",
             "assert torch.allclose(torch.ones(1), torch.ones(1)) and numpy.allclose(1, 1)\n"
             "assert bool((torch.ones(1) == torch.ones(1)).all())"]
    first, second = run_cells(cells, tmp_path)
    assert len(first["tampering"]) == 3 and second == {"error": None, "tampering": []}


def test_the_guard_leaves_honest_code_alone(tmp_path):
    assert run_cells(LEGIT, tmp_path) == [{"error": None, "tampering": []}] * len(LEGIT)


class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func == torch.Tensor.requires_grad.__get__:
            return False
        if func == torch.Tensor.grad_fn.__get__:
            return None
        return super().__torch_function__(func, types, args, kwargs or {})

    def as_subclass(self, cls):
        return self


def test_probes_see_plain_tensors_where_a_subclass_would_lie():
    namespace = {"predict_no_grad": lambda model, x: model(x).as_subclass(Liar)}
    x = torch.randn(2, 4)
    found = api.probes_of(probes)
    assert api.run(found, "predict_no_grad", api.Api(namespace), x=x, seed=0)["records_graph"] is False
    assert api.run(found, "predict_no_grad", StudentApi(namespace), x=x, seed=0)["records_graph"] is True


def test_a_probe_reports_the_subclass_as_tampering(tmp_path):
    script = SCRIPT.replace("print(json.dumps(results))", """
import torch
reply = probing.run_probe(probes_of(probes), namespace, {"probe": "predict_no_grad",
                          "args": {"x": torch.randn(2, 4), "seed": 0}, "seed": 0, "time_limit": 60}, guard)
print(json.dumps({k: v for k, v in reply.items() if k != "value"} | {"value": {"records_graph":
      reply["value"]["records_graph"]}}))""")
    cell = ("import torch\nclass Liar(torch.Tensor):\n    pass\n"
            "def predict_no_grad(model, x):\n    return model(x).as_subclass(Liar)")
    reply = worker_script(script, [cell], tmp_path)
    assert reply["outcome"] == "ok" and reply["value"]["records_graph"] is True
    assert any("tensor subclass" in what for what in reply["tampering"])


def test_forged_tensor_data_is_not_decoded_as_a_tensor():
    forged = {"__tensor__": True, "dtype": "float32", "shape": [1], "device": "cuda", "requires_grad": False,
              "has_grad_fn": False, "data": "AACAPw=="}
    decoded = wire.loads(wire.dumps({"value": forged}))["value"]
    assert not isinstance(decoded, wire.WireTensor) and "__unsupported__" in decoded


def test_a_submission_names_its_tampering_in_one_list():
    result = SubmissionResult("s", "p", notes=["tampering: a.ipynb, cell 2: imported the reference solutions",
                                               "a.ipynb: cell 3 raised ValueError: x"])
    assert result.to_dict()["tampering"] == ["a.ipynb, cell 2: imported the reference solutions"]


def _save(nb, path: Path) -> Path:
    import nbformat

    nbformat.write(nb, str(path))
    return path


@pytest.mark.parametrize("kind, phrases", [
    ("points", ["changed the nbgrader metadata", "grade_id the assignment does not have"]),
    ("experiment-ids", ["which grading skips"]),
    ("hidden-tests", ["edited the locked test cell 'neural-network-hidden-tests'",
                      "edited the locked test cell 'column-tests'"]),
])
def test_tampered_notebook_metadata_is_named(tmp_path, kind, phrases):
    loaded = load_notebook("pytorch_basics.ipynb", _save(metadata_notebook(kind), tmp_path / "pytorch_basics.ipynb"),
                           PYTORCH_VFA)
    notes = [n for n in loaded.notes if n.startswith("tampering: ")]
    for phrase in phrases:
        assert any(phrase in note for note in notes), notes


@pytest.mark.parametrize("folder", ["source", "release"])
def test_the_instructor_notebooks_are_not_tampered(folder):
    for name in ("pytorch_basics.ipynb", "value_approximation.ipynb"):
        assert load_notebook(name, ROOT / folder / "pytorch_vfa" / name, PYTORCH_VFA).notes == []


def test_a_student_notebook_from_the_release_is_not_tampered(tmp_path):
    path = _save(honest_release_notebook(), tmp_path / "pytorch_basics.ipynb")
    assert load_notebook("pytorch_basics.ipynb", path, PYTORCH_VFA).notes == []
