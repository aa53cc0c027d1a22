"""What travels between the client and the Dask workers, and how it lands there.

Nothing assumes a disk the client and the workers share:

* the course: :func:`course_files`, the assignment's files as bytes by their
  path in the course root (what :meth:`~autograder.assignment.Assignment.files`
  lists, the rest of its plug-in's and reference's folders, and the packages'
  ``__init__.py`` above them, which loading it from a course root needs),
  unpacked on each worker by :func:`unpack_course`;
* a submission: :func:`job_of`, its notebooks' bytes as grading reads them
  (:func:`autograder.nbfile.notebook_bytes`: checked on the client, outputs
  dropped), or why the client refused one; written back as files by
  :func:`write_job`, where a refused notebook is refused alike;
* a result: its strings mapped from the worker's paths back to the client's
  (:func:`map_paths`).

Standard library and the engine only: the grading child imports this, never dask.
"""

from __future__ import annotations

import pickle
import socket
import struct
from pathlib import Path, PurePosixPath
from typing import Any

from autograder import nbfile
from autograder.assignment import Assignment
from autograder.options import UsageError
from autograder.submission import Submission

_HEADER = struct.Struct("!Q")


def sandbox_of(requested: str) -> str:
    """The sandbox a batch on a cluster reports: ``auto`` there means bubblewrap on every
    worker (one that cannot run it refuses to grade, rather than grade with less)."""
    return "process" if requested == "process" else "bwrap"


# --- the course ------------------------------------------------------------------------------

def course_files(assignment: Assignment) -> dict[str, bytes]:
    """The files a worker needs to load ``assignment`` from a course root of its own:
    relative path (POSIX) -> bytes.

    Raises:
        UsageError: a file that grades it lies outside the course directory (it could not be shipped).
    """
    root = assignment.course_root
    paths = set(assignment.files())
    for folder in (assignment.folder, assignment.reference_folder()):
        paths |= {p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
        for parent in folder.parents:  # the packages they are imported as (assignments/, solutions/)
            if parent == root or not parent.is_relative_to(root):
                break
            if (parent / "__init__.py").is_file():
                paths.add(parent / "__init__.py")
    files = {}
    for path in sorted(paths):
        if not path.is_relative_to(root):
            raise UsageError(f"{path} grades {assignment.name} but lies outside the course directory {root}: "
                             "a Dask worker gets the course's files only; move it into the course")
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def unpack_course(files: dict[str, bytes], root: Path) -> Path:
    """Write :func:`course_files` under ``root`` (created); return it."""
    for name, data in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or any(part in ("", ".", "..") for part in relative.parts):
            raise ValueError(f"a course file with a path that is not plainly inside the course: {name!r}")
        target = root.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


# --- submissions ---------------------------------------------------------------------------------

def job_of(submission: Submission) -> dict:
    """A submission as data: its student, its shape (a folder or one notebook file) and
    each notebook's bytes, or the refusal that reading it met here (kind and details)."""
    notebooks = {}
    for name, path in submission.notebooks.items():
        entry: dict[str, Any] = {"file": path.name}
        try:
            entry["bytes"] = nbfile.notebook_bytes(path, submission.folder)
        except nbfile.Unreadable as problem:
            entry["refused"] = (problem.kind, dict(problem.details))
        notebooks[name] = entry
    return {"student": submission.student, "dir": submission.path.is_dir(), "name": submission.path.name,
            "notebooks": notebooks, "client_folder": str(submission.folder)}


def _plain(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def write_job(job: dict, folder: Path) -> Submission:
    """Write a job's notebooks into ``folder`` (empty, the worker's own): the submission to
    grade there. Each refused notebook is an empty stand-in that every read refuses as the
    client's did (:func:`autograder.nbfile.refuse`; :func:`forget_job` undoes it)."""
    path = folder if job["dir"] else folder / _plain(job["name"])
    notebooks = {}
    for name, entry in job["notebooks"].items():
        target = folder / _plain(entry["file"])
        target.write_bytes(entry.get("bytes", b""))
        if "refused" in entry:
            kind, details = entry["refused"]
            nbfile.refuse(target, nbfile.Unreadable(kind, **details))
        notebooks[name] = target
    return Submission(job["student"], path, notebooks)


def forget_job(submission: Submission) -> None:
    for path in submission.notebooks.values():
        nbfile.refuse(path, None)


def map_paths(value: Any, replacements: list[tuple[str, str]]) -> Any:
    """``value`` (a result's dict) with every string's worker paths replaced by the client's."""
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [map_paths(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: map_paths(item, replacements) for key, item in value.items()}
    return value


# --- messages between a Dask worker and its grading child ------------------------------------------

def send(sock: socket.socket, message: Any) -> None:
    """One message: its length, then its pickle (both ends are the grader's own processes)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)))
    sock.sendall(data)


def recv(sock: socket.socket) -> Any:
    """The next message; None at a clean end of the stream.

    Raises:
        EOFError: the stream ended inside a message.
    """
    header = _exactly(sock, _HEADER.size, at_start=True)
    if header is None:
        return None
    return pickle.loads(_exactly(sock, _HEADER.unpack(header)[0]))


def _exactly(sock: socket.socket, size: int, at_start: bool = False) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 1 << 20))
        if not chunk:
            if at_start and not data:
                return None
            raise EOFError("the other end closed the stream inside a message")
        data += chunk
    return bytes(data)
