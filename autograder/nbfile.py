"""Reading a submitted notebook file safely: never past its folder, never a pipe, never all of a huge file.

Every read of a submitted notebook goes through here (loading it for
grading, hashing it for the cache, telling which assignment it is, writing it
back for nbgrader's gradebook), and each check happens before a byte is read:

* the file must lie in its submission folder: a symbolic link is followed only
  when its target is inside that folder (a link to another student's notebook
  or to the grader's files is refused);
* it must be a regular file: a named pipe would block the reader forever, a
  device could be endless. The file is opened with ``O_NONBLOCK`` and checked
  again on the open descriptor, so it cannot be swapped in between;
* it is at most :data:`MAX_FILE_BYTES` large.

Parsing never needs the cell outputs (a plot can be hundreds of MB of base64),
so :func:`read_notebook` streams the file in :data:`CHUNK_BYTES` pieces and
keeps everything except every cell's ``outputs`` and ``attachments`` and the
notebook's widget state, which become empty. What is kept is at most
:data:`MAX_KEPT_BYTES` and at most :data:`MAX_DEPTH` containers deep; only that
is decoded and parsed. Loading a notebook therefore holds one chunk and its
outputs-free text (and the parsed form of that) in memory, whatever its size
on disk.

Each way a read can fail is an :class:`Unreadable` with a ``kind``, which the
loader turns into a note for the student (:mod:`autograder.submission`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat.notebooknode import NotebookNode

#: a notebook file larger than this is not read at all. Outputs are streamed past (100-250 MiB/s
#: for text and images; ~11 MiB/s for JSON outputs dense with brackets), so the limit bounds the
#: time a read takes (seconds; under two minutes at worst), not its memory
MAX_FILE_BYTES = 2**30
#: the notebook without its outputs: cell sources, metadata. The course's largest is ~150 kB; copying
#: what is kept runs at 5-8 MiB/s (a Python step per key and bracket), so this bounds that to ~3 s
MAX_KEPT_BYTES = 16 * 2**20
#: containers (objects, arrays) nested deeper than this, outside the outputs, are refused before
#: parsing: a notebook is about 6 deep, and Python's parsers recurse once per level
MAX_DEPTH = 64
CHUNK_BYTES = 2**20

# kinds of Unreadable
MISSING, LINK_OUTSIDE, NOT_REGULAR, TOO_LARGE, OS_ERROR = "missing", "link-outside", "not-regular", "too-large", "os-error"
EMPTY, NOT_UTF8, NOT_JSON, TOO_DEEP, NO_MEMORY = "empty", "not-utf8", "not-json", "too-deep", "no-memory"


class Unreadable(Exception):
    """Why a notebook file cannot be read; ``details`` fill the note's template (never a ``kind``)."""

    def __init__(self, kind: str, **details: object):
        super().__init__(f"{kind}: {details}")
        self.kind = kind
        self.details = details


#: notebooks read elsewhere and refused there (a Dask client reads the submissions, its workers grade
#: copies: :mod:`autograder.cluster`): absolute path of the copy's stand-in -> why, refused here alike
_REFUSED: dict[str, Unreadable] = {}


def refuse(path: Path, problem: Unreadable | None) -> None:
    """Have every read of ``path`` fail as ``problem`` (a refusal where the notebook was read); None forgets it."""
    key = os.path.abspath(path)
    if problem is None:
        _REFUSED.pop(key, None)
    else:
        _REFUSED[key] = problem


@dataclass
class NotebookFile:
    """A notebook as read for grading: converted to nbformat 4, its outputs empty."""

    notebook: NotebookNode
    version: int  #: the nbformat major version of the file as submitted


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def _size(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("kB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if unit == "GiB" else f"{n // size} {unit}"
    return f"{n} bytes"


def open_notebook(path: Path, folder: Path) -> int:
    """An open read-only descriptor of the regular file ``path``, which must lie
    in ``folder`` (see the module docstring); the caller closes it.

    Raises:
        Unreadable: missing, a link out of the folder, not a regular file, too large, or not openable.
    """
    refused = _REFUSED.get(os.path.abspath(path)) if _REFUSED else None
    if refused is not None:
        raise Unreadable(refused.kind, **refused.details)
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        raise Unreadable(MISSING) from None
    except OSError as exc:
        raise Unreadable(OS_ERROR, reason=exc.strerror or type(exc).__name__) from None
    target = Path(path)
    if stat.S_ISLNK(link.st_mode):
        target = Path(os.path.realpath(path))
        if not target.is_relative_to(Path(os.path.realpath(folder))):
            raise Unreadable(LINK_OUTSIDE)
    try:
        info = os.stat(target)
        if not stat.S_ISREG(info.st_mode):  # before open(): opening some devices has effects
            raise Unreadable(NOT_REGULAR, what=_kind_of(info.st_mode))
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise Unreadable(MISSING) from None  # a dangling link
    except OSError as exc:
        raise Unreadable(OS_ERROR, reason=exc.strerror or type(exc).__name__) from None
    opened = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
        problem = Unreadable(NOT_REGULAR, what=_kind_of(opened.st_mode))  # swapped after the check
    elif opened.st_size > MAX_FILE_BYTES:
        problem = Unreadable(TOO_LARGE, what=f"{_size(opened.st_size)}, over the limit of {_size(MAX_FILE_BYTES)}")
    if problem is not None:
        os.close(fd)
        raise problem
    return fd


def _chunks(fd: int):
    """The file's bytes, a chunk at a time, never more than MAX_FILE_BYTES in all (it may grow)."""
    total = 0
    while chunk := os.read(fd, CHUNK_BYTES):
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise Unreadable(TOO_LARGE, what=f"over the limit of {_size(MAX_FILE_BYTES)}")
        yield chunk


def file_digest(path: Path, folder: Path) -> bytes:
    """A digest of the notebook's bytes for the cache, read in chunks; for a file that
    cannot be read, a marker of why (no read happens then)."""
    try:
        fd = open_notebook(path, folder)
    except Unreadable as problem:
        return f"<{problem.kind}>".encode()
    digest = hashlib.sha256()
    try:
        for chunk in _chunks(fd):
            digest.update(chunk)
    except Unreadable as problem:
        return f"<{problem.kind}>".encode()
    finally:
        os.close(fd)
    return digest.digest()


# --- streaming past the outputs -------------------------------------------------------------

_STRUCTURE = re.compile(rb'["{}\[\]:,]')  # what a copy must look at; everything else is copied as it is
_SCALAR_END = re.compile(rb'[\s,}\]]')
#: a string's body up to its closing quote (or the chunk's end), escapes included
_STRING_BODY = re.compile(rb'(?:[^"\\]++|\\.)*+', re.S)
#: anything but brackets, and whole strings (in which brackets do not count)
_SKIP_RUN = re.compile(rb'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+")*+', re.S)
#: the values grading never reads (where: :meth:`_Redactor._dropped`), and what they become
_DROPPED = {b"outputs": b"[]", b"attachments": b"{}", b"widgets": b"{}"}


class _Frame:
    """An open container of the JSON being copied."""

    __slots__ = ("is_object", "name", "expect_key", "key")

    def __init__(self, is_object: bool, name: bytes | None):
        self.is_object, self.name = is_object, name  # name: its key in the enclosing object
        self.expect_key, self.key = is_object, None


class _Redactor:
    """Copies a notebook's JSON, a chunk at a time, without the values that grading
    never reads (``_DROPPED``): they are skipped, however large or deep, by scanning
    for brackets and quotes alone, and never held in memory.

    It does not validate: whatever it copies is parsed afterwards, and malformed JSON
    fails there. It only needs to tell strings from structure, which every byte
    below 0x80 does in UTF-8 as in any other encoding of JSON's structure.
    """

    def __init__(self) -> None:
        self.out = bytearray()
        self.frames: list[_Frame] = []
        self.in_string = False  # inside a string (copied, or skipped when self.skip_depth is not None)
        self.escaped = False  # the last byte seen was a backslash inside a string
        self.key: bytearray | None = None  # the object key being read (only short ones matter)
        self.skip_depth: int | None = None  # skipping a value: the depth of brackets inside it
        self.skip_scalar = False

    def feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self.in_string:
                pos = self._string(data, pos)
            elif self.skip_depth is not None:
                pos = self._skip(data, pos)
            else:
                pos = self._structure(data, pos)
        if len(self.out) > MAX_KEPT_BYTES:
            raise Unreadable(TOO_LARGE, what=f"its cells' text and metadata, outputs aside, are over the limit "
                                             f"of {_size(MAX_KEPT_BYTES)}")

    def _string(self, data: bytes, pos: int) -> int:
        """Past the end of the string being read, or to the end of ``data``. The string's
        body is matched by one regular expression, in C: a line-by-line output of many
        ``\\n`` escapes costs no Python step per escape."""
        start, end = pos, len(data)
        if self.escaped:  # the byte after a backslash that ended the last chunk
            pos, self.escaped = pos + 1, False
        pos = _STRING_BODY.match(data, pos).end()
        if pos < end and data[pos] == 0x22:  # the closing quote
            pos, self.in_string = pos + 1, False
        elif pos < end:  # a backslash, the chunk's last byte: what it escapes is in the next
            pos, self.escaped = end, True
        if self.skip_depth is None:
            self.out += data[start:pos]
            if self.key is not None:
                if len(self.key) < 32:  # only short keys are ever compared
                    self.key += data[start:pos][:32]
                if not self.in_string:
                    frame = self.frames[-1]
                    frame.key, frame.expect_key, self.key = bytes(self.key[:-1]), False, None
        elif not self.in_string and self.skip_depth == 0:
            self.skip_depth = None  # a skipped string value ends the skip
        return pos

    def _skip(self, data: bytes, pos: int) -> int:
        """Past the end of the value being skipped, or to the end of ``data``."""
        end = len(data)
        while pos < end:
            if self.skip_scalar:
                found = _SCALAR_END.search(data, pos)
                if found is None:
                    return end
                self.skip_scalar, self.skip_depth = False, None
                return found.start()
            if self.skip_depth == 0:
                byte = data[pos:pos + 1]
                if byte.isspace():
                    pos += 1
                    continue
                if byte == b'"':
                    self.in_string = True
                    return pos + 1
                if byte in (b"{", b"["):
                    self.skip_depth = 1
                    pos += 1
                    continue
                self.skip_scalar = True
                continue
            # past everything but brackets, whole strings included, in one C-level match
            pos = _SKIP_RUN.match(data, pos).end()
            if pos >= end:
                return end
            byte = data[pos:pos + 1]
            pos += 1
            if byte == b'"':  # a string that the chunk ends inside
                self.in_string = True
                return pos
            self.skip_depth += 1 if byte in (b"{", b"[") else -1
            if self.skip_depth == 0:
                self.skip_depth = None
                return pos
        return pos

    def _structure(self, data: bytes, pos: int) -> int:
        found = _STRUCTURE.search(data, pos)
        if found is None:
            self.out += data[pos:]
            return len(data)
        self.out += data[pos:found.end()]
        byte, pos = found.group(), found.end()
        frame = self.frames[-1] if self.frames else None
        if byte == b'"':
            self.in_string = True
            if frame is not None and frame.is_object and frame.expect_key:
                self.key = bytearray()
        elif byte in (b"{", b"["):
            self.frames.append(_Frame(byte == b"{", frame.key if frame is not None and frame.is_object else None))
            if len(self.frames) > MAX_DEPTH:
                raise Unreadable(TOO_DEEP, depth=MAX_DEPTH)
        elif byte in (b"}", b"]"):
            if self.frames:
                self.frames.pop()
        elif byte == b",":
            if frame is not None and frame.is_object:
                frame.expect_key = True
        elif frame is not None and frame.is_object and self._dropped(frame):  # a ':' before a dropped value
            self.out += _DROPPED[frame.key]
            self.skip_depth = 0
        return pos

    def _dropped(self, frame: _Frame) -> bool:
        """Whether the value after ``frame.key`` is one grading never reads: a cell's
        outputs or attachments (the cell an element of a ``cells`` list, in nbformat 4 and
        3 alike), or the notebook's widget state (``metadata.widgets``)."""
        if frame.key in (b"outputs", b"attachments"):
            return len(self.frames) >= 2 and not self.frames[-2].is_object and self.frames[-2].name == b"cells"
        return frame.key == b"widgets" and frame.name == b"metadata" and len(self.frames) == 2


def _without_outputs(fd: int) -> bytes:
    redactor = _Redactor()
    for chunk in _chunks(fd):
        redactor.feed(chunk)
    return bytes(redactor.out)


_UNDECODED = re.compile("[\udc80-\udcff]")


def _undecodable_where(data: bytes, offset: int) -> str:
    """Where the bytes that are not UTF-8 are, in a student's words: a cell, or the metadata."""
    try:
        raw = json.loads(data.decode("utf-8", "surrogateescape"))
        for index, cell in enumerate(raw.get("cells", [])):
            source = cell.get("source", "") if isinstance(cell, dict) else ""
            if _UNDECODED.search("".join(source) if isinstance(source, list) else str(source)):
                return f"in cell {index}"
        return "in its metadata"
    except Exception:  # noqa: BLE001 - only a better place to point at; the offset is true anyway
        return f"at byte {offset} of its text without outputs"


def notebook_bytes(path: Path, folder: Path) -> bytes:
    """The notebook's bytes as grading reads them: checked first, its outputs dropped (at most
    :data:`MAX_KEPT_BYTES`). Reading a copy of them gives what reading the file gives (the
    dropped values are written empty, and dropping them again changes nothing): what travels
    to a machine that grades it (:mod:`autograder.cluster`).

    Raises:
        Unreadable: as :func:`open_notebook`, or what streaming past the outputs refuses.
    """
    fd = open_notebook(path, folder)
    try:
        return _without_outputs(fd)
    except MemoryError:
        raise Unreadable(NO_MEMORY) from None
    finally:
        os.close(fd)


def read_json(path: Path, folder: Path) -> dict:
    """The notebook at ``path`` (in the submission folder ``folder``) as parsed JSON,
    its outputs empty, read without ever holding its outputs in memory.

    Raises:
        Unreadable: any reason it cannot be read, as a ``kind`` (this module's constants).
    """
    fd = open_notebook(path, folder)
    try:
        data = _without_outputs(fd)
        if not data.strip():
            raise Unreadable(EMPTY)
        try:
            text = data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is harmless
        except UnicodeDecodeError as exc:
            raise Unreadable(NOT_UTF8, where=_undecodable_where(data, exc.start)) from None
        del data
        try:
            raw = json.loads(text)
        except RecursionError:
            raise Unreadable(TOO_DEEP, depth=MAX_DEPTH) from None
        except ValueError as exc:
            raise Unreadable(NOT_JSON, detail=str(exc)[:120]) from None
        if not isinstance(raw, dict):
            raise Unreadable(NOT_JSON, detail=f"the file holds a JSON {type(raw).__name__}, not a notebook")
        return raw
    except MemoryError:
        raise Unreadable(NO_MEMORY) from None
    finally:
        os.close(fd)


def read_notebook(path: Path, folder: Path) -> NotebookFile:
    """The notebook at ``path`` as nbformat 4 (converted from older versions), its outputs empty.

    Raises:
        Unreadable: as :func:`read_json`, or the JSON is not a notebook nbformat can read.
    """
    import nbformat  # here: the command line starts its worker host before nbformat is imported

    raw = read_json(path, folder)
    try:
        major, minor = nbformat.reader.get_version(raw)
        if major == 4:
            _check_shape(raw)  # before nbformat reads it: its errors say less
        if major not in nbformat.versions:
            raise nbformat.NBFormatError(f"unsupported nbformat version {major}")
        with warnings.catch_warnings():  # e.g. nbformat's "missing an id field": ids are not needed
            warnings.simplefilter("ignore")
            notebook = nbformat.convert(nbformat.versions[major].to_notebook_json(raw, minor=minor), 4)
    except RecursionError:
        raise Unreadable(TOO_DEEP, depth=MAX_DEPTH) from None
    except MemoryError:
        raise Unreadable(NO_MEMORY) from None
    except (ValueError, TypeError, AttributeError, KeyError, nbformat.ValidationError) as exc:
        raise Unreadable(NOT_JSON, detail=(str(exc).splitlines() or [type(exc).__name__])[0][:120]) from None
    _check_shape(notebook)
    return NotebookFile(notebook, int(major))


def _check_shape(notebook: dict) -> None:
    """What grading reads of a notebook has the types nbformat's schema gives it (nbformat
    does not check them when reading): else the file is not a valid notebook, rather
    than the grader failing on it."""
    def bad(detail: str) -> Unreadable:
        return Unreadable(NOT_JSON, detail=detail)

    if not isinstance(notebook.get("metadata", {}), dict):
        raise bad("its metadata is not a JSON object")
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise bad("it has no list of cells")
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise bad(f"cell {index} is not a notebook cell")
        source = cell.get("source", "")
        if not isinstance(source, str) and not (isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise bad(f"the source of cell {index} is not text")
        if not isinstance(cell.get("metadata", {}), dict):
            raise bad(f"the metadata of cell {index} is not a JSON object")
        if not isinstance(cell.get("id", ""), str):
            raise bad(f"the id of cell {index} is not a string")
