"""Results known by their form and a digest of their values, not by the values themselves.

Where the right result of a public case is the answer itself (a function without inputs, a
case that grading also uses, an answer that depends on the machine), the self-check's data
holds it as a :class:`Digested`: its form (the structure, each tensor's shape, dtype and
device, each other value's kind) and one digest per value. Values are normalised before they
are hashed, so that only what grading's exact comparison sees counts: any dtype as float64
(complex128), any layout as contiguous, −0.0 as 0.0, every NaN as one NaN. The form is
compared as grading compares it (:func:`autograder.compare.compare`: "expected shape (7, 8),
got (8, 7)"); the values only as the same or not.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Any

import torch

from . import feedback
from .compare import EXACT, MATCH, Comparison, Tolerance, compare
from .wire import WireTensor

_MARK, _KIND = "__digested__", "__kind__"


class Kind(str):
    """A value's kind in a form ("a number", "a string", …): what a digest keeps of a non-tensor."""

    def __repr__(self) -> str:  # compare's messages show it as words: "expected a number, got a string"
        return str(self)

    @classmethod
    def of(cls, value: Any) -> "Kind":
        if isinstance(value, bool):
            return cls("a bool")
        if isinstance(value, (int, float)):
            return cls("a number")  # compare lets an int stand for a float
        return cls("a string" if isinstance(value, str) else "None" if value is None else f"a {type(value).__name__}")


@dataclass(frozen=True)
class Digested:
    """A result as its form and, for each value in it, where it is and its digest (in order)."""

    form: Any
    leaves: tuple[tuple[str, str], ...]

    def to_data(self) -> dict:
        """Plain data (tensors of the form are meta tensors: wire-encodable, no values)."""
        return {_MARK: True, "form": _form_data(self.form), "leaves": [list(leaf) for leaf in self.leaves]}


def digest(value: Any, path: str = "result") -> Digested:
    """``value`` (a result as :mod:`autograder.worker.wire` decodes it) as a :class:`Digested`."""
    if isinstance(value, Digested):
        return value
    leaves: list[tuple[str, str]] = []

    def walk(item: Any, where: str) -> Any:
        if isinstance(item, dict):
            return {key: walk(v, f"{where}[{key!r}]") for key, v in item.items()}
        if isinstance(item, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(item)]
        leaves.append((where, value_digest(item)))
        if isinstance(item, WireTensor):
            return WireTensor(torch.empty(item.shape, dtype=item.dtype, device="meta"), item.device,
                              item.requires_grad, item.has_grad_fn)
        return Kind.of(item)

    return Digested(walk(value, path), tuple(leaves))


def value_digest(value: Any) -> str:
    """The digest of one value, normalised (see the module docstring)."""
    if isinstance(value, (WireTensor, torch.Tensor)):
        tensor = value.values if isinstance(value, WireTensor) else value.detach()
        if tensor.device.type == "meta":
            data = b"meta"
        else:
            tensor = tensor.cpu()
            wide = torch.view_as_real(tensor.to(torch.complex128)) if tensor.is_complex() else tensor.to(torch.float64)
            wide = torch.where(wide.isnan(), torch.full_like(wide, math.nan), wide + 0.0)  # −0.0 + 0.0 is 0.0
            data = (b"complex:" if tensor.is_complex() else b"real:") + wide.contiguous().reshape(-1).numpy().tobytes()
    elif isinstance(value, bool):
        data = b"bool:" + str(value).encode()
    elif isinstance(value, (int, float)):
        number = float(value) + 0.0
        data = b"number:" + struct.pack("<d", math.nan if math.isnan(number) else number)
    else:
        data = f"{type(value).__name__}:{value!r}".encode()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def compare_digested(got: Any, expected: Any, tol: Tolerance = EXACT, path: str = "result") -> Comparison:
    """:func:`~autograder.compare.compare`, also where ``expected`` is a :class:`Digested`: its form as
    grading compares it, then its values one by one (the same or not; ``tol`` cannot apply to a digest)."""
    if not isinstance(expected, Digested):
        return compare(got, expected, tol, path)
    mine = digest(got, path)
    form = compare(mine.form, expected.form, EXACT, path)
    if not form.ok:
        same_values = [d for _, d in mine.leaves] == [d for _, d in expected.leaves]
        return Comparison(form.problem, form.message, form.path, values_match=same_values)
    for (where, theirs), (_, ours) in zip(mine.leaves, expected.leaves):
        if theirs != ours:
            return Comparison("values", feedback.DIGEST_DIFFERS.format(path=where), where)
    return MATCH


def revive(value: Any) -> Any:
    """Data as :func:`autograder.worker.wire.loads` gives it, with each digested result as a :class:`Digested`."""
    if isinstance(value, dict):
        if value.get(_MARK) is True:
            return Digested(_revive_form(value["form"]), tuple((str(p), str(d)) for p, d in value["leaves"]))
        return {key: revive(v) for key, v in value.items()}
    if isinstance(value, list):
        return [revive(v) for v in value]
    return value


def _form_data(form: Any) -> Any:
    if isinstance(form, Kind):
        return {_KIND: str(form)}
    if isinstance(form, dict):
        return {key: _form_data(v) for key, v in form.items()}
    if isinstance(form, list):
        return [_form_data(v) for v in form]
    return form


def _revive_form(form: Any) -> Any:
    if isinstance(form, dict):
        if set(form) == {_KIND}:
            return Kind(form[_KIND])
        return {key: _revive_form(v) for key, v in form.items()}
    if isinstance(form, list):
        return [_revive_form(v) for v in form]
    return form
