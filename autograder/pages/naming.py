"""File names made from student ids: safe on every file system, one per student.

A student id is whatever the submission's folder or notebook was called:
``../x``, ``a/b``, ``CON``, a name of 300 characters or one that differs from
another only by case. A page's name keeps the id's safe characters and, where
it had to change anything (or two ids would give the same name), a short hash
of the id, so that no two students share a page and no name leaves the folder.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
MAX_STEM = 64  #: characters of the id kept in a name (the hash tells longer ones apart)
#: names Windows reserves whatever the extension (a page copied there must still open)
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def _digest(student: str) -> str:
    return hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def page_names(students: Iterable[str], suffix: str = ".html") -> dict[str, str]:
    """Each student id -> its page's file name (``[A-Za-z0-9_-]`` and ``suffix``), unique ignoring case."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for student in dict.fromkeys(students):
        stem = _UNSAFE.sub("_", student).strip("_-")[:MAX_STEM] or "student"  # no name that reads as an option
        changed = stem != student or stem.lower() in _RESERVED
        name = f"{stem}-{_digest(student)}" if changed else stem
        if name.lower() in taken:  # "Alice" and "alice" on a case-insensitive disk
            name = f"{stem}-{_digest(student)}"
        count = 1
        while name.lower() in taken:  # an id that spells another's name with its hash
            count += 1
            name = f"{stem}-{_digest(student)}-{count}"
        names[student] = name + suffix
        taken.add(name.lower())
    return names
