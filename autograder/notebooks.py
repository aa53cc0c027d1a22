"""Which cells of a submitted notebook grading runs, decided from the assignment's SOURCE notebook.

Experiment cells (training runs, plots) are never run when grading, and
``autograder grade`` does not run nbgrader's test cells either (its checks
replace them). Which cells those are is read from the instructor's source
notebook, never from the submission: a student can edit a cell's tags and
metadata, not the source. In the source, an experiment cell is a code cell
whose id starts with ``experiment-``; a test cell is an nbgrader grade cell
that is not a solution.

A submitted cell is the source cell it matches (:func:`classify_cells`),
tried in this order:

1. its nbgrader ``grade_id``, where the source has it (nbgrader itself tells
   cells apart by it, and restores locked cells by it);
2. its cell id, where the source has it (JupyterLab keeps the release's ids);
3. its content, for notebooks saved without ids (Google Colab downloads
   nbformat 4.0, VS Code and older Jupyter save 4.4, none with ids) or with
   new ones: the source cell, or its release version, whose text is the most
   alike (:data:`MATCH_THRESHOLD`); the position in the notebook only breaks
   ties, since students reorder cells.

Whatever it matched, a cell is never skipped when it binds a name that
grading needs (:func:`needed_names`): a graded function or class, or a
global that graded code reads (a constant, a helper, an import), directly or
through other definitions; under nbgrader, its test cells are graded code
too. Skipping such a cell would change what is graded; skipping any other
cell only leaves out code that grading does not depend on, so beyond that
rule a match errs towards skipping: a cell that looks like an experiment is
treated as one. The one exception is a test cell named by its ``grade_id``
or id: nbgrader restores its locked source before grading, so what a
student writes into it is never graded, here either.

The standalone grader (:func:`autograder.submission.load_notebook`) and the
nbgrader preprocessor (:mod:`autograder.nbgrader_hooks`) both call
:func:`classify_cells`.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import symtable
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.worker.cells import strip_magics

EXPERIMENT_ID_PREFIX = "experiment-"
RUN, EXPERIMENT, TEST = "run", "experiment", "test"  #: a source cell's role
#: how alike (Dice coefficient of token trigrams, 0 to 1) a submitted cell must be to a source
#: cell to count as it. A student's edit of an experiment (another learning rate, more episodes)
#: keeps it above 0.9; unrelated cells of the course notebooks share under 0.3. Erring low is
#: safe: a cell that grading needs is never skipped, whatever it matched.
MATCH_THRESHOLD = 0.5
_TIE = 1e-9

_GRADED_EXPERIMENT = (
    "{path}: cell {cell_id!r} is named as an experiment (its id starts with "
    "{prefix!r}) but is an nbgrader {role} cell; experiments are never run when "
    "grading, so rename the cell or take it out of the grading"
)


def _nbgrader_metadata(cell: Mapping) -> dict:
    meta = cell.get("metadata", {})
    meta = meta.get("nbgrader", {}) if isinstance(meta, Mapping) else {}
    return meta if isinstance(meta, Mapping) else {}


def _text(cell: Mapping) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


# --- what a cell's text is like -------------------------------------------------------------

_TOKEN = re.compile(r"\w+|[^\w\s]")


@functools.lru_cache(maxsize=8192)
def _tokens(text: str) -> tuple[str, ...]:
    """The text as tokens: layout and spacing do not count, everything else does."""
    return tuple(_TOKEN.findall(text))


@functools.lru_cache(maxsize=8192)
def _shingles(tokens: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    if len(tokens) < 3:
        return frozenset({tokens}) if tokens else frozenset()
    return frozenset(zip(tokens, tokens[1:], tokens[2:]))


def similarity(a: str, b: str) -> float:
    """How alike two cells' texts are, from 0 to 1: the Dice coefficient of their token trigrams."""
    return _dice(_shingles(_tokens(a)), _shingles(_tokens(b)))


def _dice(a: frozenset, b: frozenset) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 1.0


# --- the source notebook --------------------------------------------------------------------

@dataclass(frozen=True)
class SourceCell:
    """A code cell of a source notebook, as grading matches submitted cells against it."""

    index: int  #: among the source notebook's cells
    id: str | None
    grade_id: str | None
    role: str  #: RUN, EXPERIMENT or TEST
    position: float  #: among the code cells, from 0 (first) to 1 (last)
    texts: tuple[tuple[str, ...], ...]  #: its tokens in the source, and in the release where they differ


@dataclass(frozen=True)
class SourceNotebook:
    """What grading knows of a source notebook: its code cells and the names its solutions define."""

    cells: tuple[SourceCell, ...]
    graded: frozenset[str]  #: top-level definitions of its solution cells: the graded functions and classes
    by_grade_id: Mapping[str, SourceCell] = field(default_factory=dict)
    by_id: Mapping[str, SourceCell] = field(default_factory=dict)
    by_text: Mapping[tuple[str, ...], tuple[SourceCell, ...]] = field(default_factory=dict)


def _role(cell: Mapping, path: Path) -> str:
    meta, cell_id = _nbgrader_metadata(cell), str(cell.get("id") or "")
    if cell_id.startswith(EXPERIMENT_ID_PREFIX):
        for role in ("solution", "grade"):
            if meta.get(role):
                raise ValueError(_GRADED_EXPERIMENT.format(path=path, cell_id=cell_id, prefix=EXPERIMENT_ID_PREFIX,
                                                           role=role))
        return EXPERIMENT
    return TEST if meta.get("grade") and not meta.get("solution") else RUN


def source_notebook(source: str | Path, release: str | Path | None = None) -> SourceNotebook:
    """The source notebook ``source`` (``source/<assignment>/<notebook>.ipynb``) and,
    if given and present, its release version, whose texts a student starts from.

    Raises:
        FileNotFoundError: the source notebook does not exist.
        ValueError: an experiment cell is also an nbgrader solution or grade cell,
            which would silently drop graded work.
    """
    source, release = Path(source), Path(release) if release else None
    have_release = release is not None and release.is_file()
    return _source_notebook(source, _stamp(source), release if have_release else None,
                            _stamp(release) if have_release else None)


def _stamp(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_mtime_ns, info.st_size


@functools.lru_cache(maxsize=64)
def _source_notebook(source: Path, _stamp: tuple, release: Path | None, _release_stamp: tuple | None) -> SourceNotebook:
    cells = nbformat.read(source, as_version=nbformat.NO_CONVERT).cells
    released = {}
    if release is not None:
        released = {c.get("id"): _text(c) for c in nbformat.read(release, as_version=nbformat.NO_CONVERT).cells
                    if c.get("cell_type") == "code"}
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    found, graded = [], set()
    for rank, (index, cell) in enumerate(code):
        texts = dict.fromkeys([_tokens(_text(cell)), _tokens(released.get(cell.get("id"), _text(cell)))])
        found.append(SourceCell(index, cell.get("id"), _nbgrader_metadata(cell).get("grade_id"), _role(cell, source),
                                rank / max(1, len(code) - 1), tuple(texts)))
        if _nbgrader_metadata(cell).get("solution"):
            graded |= _definitions(_text(cell))
    by_text: dict[tuple[str, ...], list[SourceCell]] = {}
    for cell in found:
        for text in cell.texts:
            by_text.setdefault(text, []).append(cell)
    return SourceNotebook(tuple(found), frozenset(graded),
                          {c.grade_id: c for c in found if c.grade_id},
                          {c.id: c for c in found if c.id},
                          {text: tuple(cells) for text, cells in by_text.items()})


def _definitions(text: str) -> set[str]:
    try:
        tree = ast.parse(strip_magics(text))
    except (SyntaxError, ValueError):
        return set()
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def experiment_cell_ids(source_notebook_path: str | Path) -> frozenset[str]:
    """The ids of the experiment cells of a source notebook.

    Raises:
        FileNotFoundError: the notebook does not exist.
        ValueError: an experiment cell is also an nbgrader solution or grade cell.
    """
    return frozenset(c.id for c in source_notebook(source_notebook_path).cells if c.role == EXPERIMENT)


def graded_cell_ids(source_notebook_path: str | Path) -> frozenset[str]:
    """The nbgrader ``grade_id`` of every cell that a source notebook grades
    (nbgrader test cells with points)."""
    cells = nbformat.read(Path(source_notebook_path), as_version=nbformat.NO_CONVERT).cells
    return frozenset(_nbgrader_metadata(cell)["grade_id"] for cell in cells
                     if _nbgrader_metadata(cell).get("grade"))


# --- matching a submitted notebook's cells ---------------------------------------------------

@dataclass(frozen=True)
class CellChoice:
    """What grading does with one submitted code cell, and why."""

    index: int  #: among the submitted notebook's cells
    role: str  #: the role of the source cell it matched; RUN when it matched none
    matched_by: str | None  #: "grade_id", "id", "content", or None
    source_index: int | None  #: the source cell it matched
    #: for a cell of a skipped role that is run all the same: the needed names it binds
    kept_for: frozenset[str] = frozenset()
    skipped: bool = False


def classify_cells(cells: Sequence[Mapping], source: SourceNotebook, graded: Collection[str] = (),
                   skipped_roles: Collection[str] = (EXPERIMENT, TEST)) -> list[CellChoice]:
    """One :class:`CellChoice` per code cell of a submitted notebook (in order).

    Args:
        cells: the submitted notebook's cells (markdown included: indices are theirs).
        source: its source notebook (:func:`source_notebook`).
        graded: names graded besides those the source's solution cells define
            (the functions the assignment's checks call).
        skipped_roles: the roles not run: experiments and tests for ``autograder
            grade``, experiments only for ``nbgrader autograde``, whose test cells grade.
    """
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    matched = [_match(cell, rank / max(1, len(code) - 1), source) for rank, (_, cell) in enumerate(code)]
    candidates = [m is not None and m[0].role in skipped_roles for m in matched]
    statements = [_statements(_text(cell)) for _, cell in code]
    seeds = set(graded) | source.graded
    for match, candidate, found in zip(matched, candidates, statements):
        if match is not None and match[0].role == TEST and not candidate:
            # a test cell that runs (nbgrader's) is graded code too: the globals it reads without
            # defining them itself (a constant, a helper) are needed as a graded function's are
            seeds |= set().union(*(s.reads for s in found)) - set().union(*(s.binds for s in found))
    needed = needed_names(statements, seeds)
    imported = {binding for found, candidate in zip(statements, candidates) if not candidate
                for statement in found for binding in statement.imports}
    choices = []
    for (index, _), match, candidate, found in zip(code, matched, candidates, statements):
        # a test cell named by its grade_id or id is the instructor's, whatever it now holds: nbgrader
        # puts its locked source back before grading, so code a student writes there is never graded
        restored = match is not None and match[0].role == TEST and match[1] in ("grade_id", "id")
        kept = _binds_needed(found, needed, imported) if candidate and not restored else frozenset()
        choices.append(CellChoice(index, match[0].role if match else RUN, match[1] if match else None,
                                  match[0].index if match else None, kept, candidate and not kept))
    return choices


def _match(cell: Mapping, position: float, source: SourceNotebook) -> tuple[SourceCell, str] | None:
    grade_id = _nbgrader_metadata(cell).get("grade_id")
    if isinstance(grade_id, str) and grade_id in source.by_grade_id:
        return source.by_grade_id[grade_id], "grade_id"
    cell_id = cell.get("id")
    if isinstance(cell_id, str) and cell_id in source.by_id:
        return source.by_id[cell_id], "id"
    tokens = _tokens(_text(cell))
    if not tokens:
        return None
    alike = [(1.0, c) for c in source.by_text.get(tokens, ())]
    if not alike:
        mine = _shingles(tokens)
        for candidate in source.cells:
            best = max(_dice(mine, _shingles(text)) for text in candidate.texts)
            if best >= MATCH_THRESHOLD:
                alike.append((best, candidate))
    if not alike:
        return None
    top = max(score for score, _ in alike)
    # the position breaks ties only: cells get reordered
    chosen = min((c for score, c in alike if score >= top - _TIE), key=lambda c: abs(c.position - position))
    return chosen, "content"


# --- what grading needs of a cell ------------------------------------------------------------

@dataclass(frozen=True)
class Statement:
    """A top-level statement of a cell: the module-level names it binds (or assigns
    into: ``X[k] = v`` changes ``X``) and the globals it reads, its functions' and
    classes' bodies included."""

    binds: frozenset[str]
    reads: frozenset[str]
    imports: frozenset[tuple[str, tuple]] = frozenset()  #: (name, what it imports) for each name an import binds
    star: bool = False  #: ``from m import *``: may bind any name


def needed_names(cells: Sequence[Sequence[Statement]], graded: Collection[str]) -> frozenset[str]:
    """The graded names and every global that a definition of them reads, directly or
    through other top-level definitions of any cell (a helper, a constant, an import)."""
    needed, statements = set(graded), [s for cell in cells for s in cell]
    grew = True
    while grew:
        grew = False
        for statement in statements:
            if statement.binds & needed and not statement.reads <= needed:
                needed |= statement.reads
                grew = True
    return frozenset(needed)


def _binds_needed(statements: Sequence[Statement], needed: frozenset[str],
                  imported: set[tuple[str, tuple]]) -> frozenset[str]:
    """The needed names these statements bind. An import that a run cell makes too is
    left out: it binds the same module either way (students repeat ``import torch``)."""
    found: set[str] = set()
    for statement in statements:
        if statement.star and needed:
            found.add("*")
        by_import = dict(statement.imports)
        found |= {name for name in statement.binds & needed
                  if name not in by_import or (name, by_import[name]) not in imported}
    return frozenset(found)


@functools.lru_cache(maxsize=8192)
def _statements(text: str) -> tuple[Statement, ...]:
    """The cell's top-level statements. A cell that does not compile defines
    nothing when it runs, so it has none."""
    source = strip_magics(text)
    try:
        tree = ast.parse(source)
        table = symtable.symtable(source, "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    scopes = table.get_children()
    found = []
    for node in tree.body:
        first, last = node.lineno, node.end_lineno or node.lineno
        reads, binds = _module_level_names(node)
        for scope in scopes:
            if first <= scope.get_lineno() <= last:
                reads |= _globals_read(scope)
        imports = frozenset(_import_bindings(node))
        found.append(Statement(frozenset(binds), frozenset(reads), imports,
                               isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)))
    return tuple(found)


def _globals_read(scope: symtable.SymbolTable) -> set[str]:
    """The globals that a function or class body (and everything nested in it) reads."""
    names = {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
    for child in scope.get_children():
        names |= _globals_read(child)
    return names


def _module_level_names(node: ast.AST) -> tuple[set[str], set[str]]:
    """(names read, names bound) by a statement at module level, not counting the bodies of
    the functions, lambdas and classes it defines (those run in scopes of their own:
    :func:`_globals_read`), but counting their decorators, defaults, annotations and bases,
    which run at module level."""
    reads, binds = set(), set()
    todo = [node]
    while todo:
        current = todo.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(current.name)
            parts = list(current.decorator_list)
            if isinstance(current, ast.ClassDef):
                parts += current.bases + [k.value for k in current.keywords]
            else:
                parts += _signature_parts(current.args) + ([current.returns] if current.returns else [])
            todo += parts
            continue
        if isinstance(current, ast.Lambda):
            todo += _signature_parts(current.args)
            continue
        if isinstance(current, ast.Name):
            (reads if isinstance(current.ctx, ast.Load) else binds).add(current.id)
        elif isinstance(current, (ast.Attribute, ast.Subscript)) and not isinstance(current.ctx, ast.Load):
            base = current.value  # X.a = v, X[k] = v: X is changed
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name):
                binds.add(base.id)
        elif isinstance(current, (ast.Import, ast.ImportFrom)):
            binds |= {name for name, _ in _import_bindings(current)}
        todo += ast.iter_child_nodes(current)
    return reads, binds


def _signature_parts(args: ast.arguments) -> list[ast.AST]:
    every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
    return [*args.defaults, *(d for d in args.kw_defaults if d), *(a.annotation for a in every if a.annotation)]


def _import_bindings(node: ast.AST) -> list[tuple[str, tuple]]:
    if isinstance(node, ast.Import):
        return [(alias.asname or alias.name.partition(".")[0],
                 ("import", alias.name if alias.asname else alias.name.partition(".")[0])) for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [(alias.asname or alias.name, ("from", node.level, node.module, alias.name))
                for alias in node.names if alias.name != "*"]
    return []


def calls_between(sources: Sequence[str], names: Collection[str]) -> dict[str, frozenset[str]]:
    """For each of ``names`` that these cells define, the others of ``names`` that its
    definition reads, directly or through other top-level definitions (a helper that calls
    one): :func:`needed_names` from that one name. Read from the code, not run: a name read
    on a branch never taken counts too."""
    statements = [_statements(text) for text in sources]
    defined = {name for cell in statements for statement in cell for name in statement.binds}
    return {name: needed_names(statements, {name}) & set(names) - {name} for name in set(names) & defined}
