"""The data-only encoding of messages between the grader and a worker.

Messages are JSON. The only non-JSON value is a tensor, sent as its dtype,
shape, device, a few flags and its raw bytes. Nothing is pickled, so nothing a
worker sends can run code on the grader's side; :func:`decode` validates every
field and size before building plain tensors.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import torch

MAX_MESSAGE_BYTES = 64 * 2**20
MAX_TENSOR_ELEMENTS = 2**22
MAX_DEPTH = 16
DEVICES = ("cpu", "cuda", "meta", "mps", "xpu")  #: the devices a received tensor may name

_DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.float16, torch.bfloat16, torch.float32, torch.float64,
        torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool,
        torch.complex64, torch.complex128,
    )
}
_ITEMSIZE = {dtype: dtype.itemsize for dtype in _DTYPES.values()}


class WireError(ValueError):
    """A message that is not valid data (wrong type, size or structure)."""


def _plain_tensor(t: torch.Tensor) -> torch.Tensor:
    """A tensor as a plain ``torch.Tensor`` of the same values: subclasses stripped (the C method
    itself: a subclass may override ``as_subclass`` to keep lying), so a tensor that lies about
    itself cannot carry its behaviour across."""
    return torch._C.TensorBase.as_subclass(t, torch.Tensor) if type(t) is not torch.Tensor else t


def _cpu_values(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor's values on the CPU, contiguous, conjugation resolved; size-checked."""
    if t.numel() > MAX_TENSOR_ELEMENTS:
        raise WireError(f"tensor of {t.numel()} elements is over the limit of {MAX_TENSOR_ELEMENTS}")
    plain = t.detach().to("cpu").contiguous()
    return plain.resolve_conj() if plain.is_conj() else plain


def encode_tensor(t: torch.Tensor) -> dict:
    """A tensor as data: metadata plus its values as bytes (moved to the CPU). Meta tensors have no values."""
    t = _plain_tensor(t)
    meta = {
        "__tensor__": True,
        "dtype": str(t.dtype).removeprefix("torch."),
        "shape": list(t.shape),
        "device": t.device.type,
        "requires_grad": bool(t.requires_grad),
        "has_grad_fn": t.grad_fn is not None,
    }
    if t.device.type == "meta":
        meta["data"] = None
        return meta
    raw = _cpu_values(t).reshape(-1).view(torch.uint8).numpy().tobytes()  # via uint8: numpy has no bfloat16
    meta["data"] = base64.b64encode(raw).decode()
    return meta


def _encode_received(value: WireTensor) -> dict:
    """Received data passed on (a stored result): what was true of it stays."""
    return {**encode_tensor(value.values), "device": value.device, "requires_grad": value.requires_grad,
            "has_grad_fn": value.has_grad_fn}


def _walk(value: Any, tensor: Any, received: Any, depth: int = 0) -> Any:
    """``value`` as JSON-compatible data, each tensor as ``tensor(t)`` makes it and each
    :class:`WireTensor` as ``received(w)`` does."""
    if depth > MAX_DEPTH:
        raise WireError("result is nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, torch.Tensor):
        return tensor(value)
    if isinstance(value, WireTensor):
        return received(value)
    if isinstance(value, (list, tuple)):
        return [_walk(v, tensor, received, depth + 1) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:  # only encode_tensor makes those: this one would be decoded as a forged tensor
            return {"__unsupported__": "dict with the reserved key __tensor__"}
        return {str(k): _walk(v, tensor, received, depth + 1) for k, v in value.items()}
    # numpy scalars, bool-likes and friends: keep only their plain value
    for kind in (bool, int, float):
        if isinstance(value, kind):
            return kind(value)
    return {"__unsupported__": type(value).__name__}


def to_data(value: Any) -> Any:
    """Convert a probe's result into JSON-compatible data (tensors included)."""
    return _walk(value, encode_tensor, _encode_received)


def received(value: Any) -> Any:
    """What :func:`loads` of :func:`dumps` gives for ``value``, without the JSON and base64 in
    between: for data the grader made itself and compares with received data (the arguments
    of a replayed call, the reference's results). Only the size of the whole message is not
    checked."""
    return _walk(value, _received_tensor, _received_again)


def _received_tensor(t: torch.Tensor) -> WireTensor:
    t = _plain_tensor(t)
    if str(t.dtype).removeprefix("torch.") not in _DTYPES:
        raise WireError(f"unknown tensor dtype {str(t.dtype).removeprefix('torch.')!r}")
    if t.device.type not in DEVICES:
        raise WireError(f"unknown device {t.device.type!r}")
    if t.device.type == "meta":
        values = torch.empty(t.shape, dtype=t.dtype, device="meta")
    else:
        values = _cpu_values(t)
        if values.untyped_storage().data_ptr() == t.untyped_storage().data_ptr():
            values = values.clone()  # its own values, as decoded ones are: nobody's later change shows in them
    return WireTensor(values, device=t.device.type, requires_grad=bool(t.requires_grad),
                      has_grad_fn=t.grad_fn is not None)


def _received_again(value: WireTensor) -> WireTensor:
    values = value.values
    copy = torch.empty(values.shape, dtype=values.dtype, device="meta") if values.device.type == "meta" \
        else _cpu_values(values).clone()
    return WireTensor(copy, device=value.device, requires_grad=value.requires_grad, has_grad_fn=value.has_grad_fn)


def dumps(message: Any) -> bytes:
    data = json.dumps(to_data(message), allow_nan=True).encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(data)} bytes is over the limit of {MAX_MESSAGE_BYTES}")
    return data


def _decode_tensor(obj: dict) -> torch.Tensor | dict:
    dtype = _DTYPES.get(obj.get("dtype"))
    shape = obj.get("shape")
    if dtype is None:
        raise WireError(f"unknown tensor dtype {obj.get('dtype')!r}")
    if not (isinstance(shape, list) and len(shape) <= 16 and all(type(n) is int and 0 <= n for n in shape)):
        raise WireError("tensor shape is not a list of sizes")
    numel = 1
    for n in shape:
        numel *= n
    if numel > MAX_TENSOR_ELEMENTS:
        raise WireError("tensor is over the size limit")
    info = {k: bool(obj.get(k)) for k in ("requires_grad", "has_grad_fn")}
    device = obj.get("device")
    if device not in DEVICES:
        raise WireError(f"unknown device {device!r}")
    if obj.get("data") is None:
        values = torch.empty(shape, dtype=dtype, device="meta")
    else:
        raw = base64.b64decode(obj["data"], validate=True)
        if len(raw) != numel * _ITEMSIZE[dtype]:
            raise WireError("tensor data does not match its shape and dtype")
        values = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape) if numel else torch.empty(shape, dtype=dtype)
    return WireTensor(values, device=device, **info)


class WireTensor:
    """A tensor received from a worker: plain CPU values plus what was true of
    the original (its device, whether it required grad or had a graph)."""

    __slots__ = ("values", "device", "requires_grad", "has_grad_fn")

    def __init__(self, values: torch.Tensor, device: str, requires_grad: bool, has_grad_fn: bool):
        self.values, self.device = values, device
        self.requires_grad, self.has_grad_fn = requires_grad, has_grad_fn

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def shape(self) -> torch.Size:
        return self.values.shape

    def __repr__(self) -> str:
        return f"WireTensor({self.values!r}, device={self.device!r})"


def _decode(obj: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("message is nested too deeply")
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:
        return [_decode(v, depth + 1) for v in obj]
    if type(obj) is dict:
        if obj.get("__tensor__") is True:
            return _decode_tensor(obj)
        return {str(k): _decode(v, depth + 1) for k, v in obj.items()}
    raise WireError(f"unexpected value of type {type(obj).__name__}")


def loads(data: bytes) -> Any:
    """Parse and validate a message; tensors become :class:`WireTensor`."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError("message is over the size limit")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"message is not JSON: {exc}") from None
    return _decode(obj)


def plain(value: Any) -> Any:
    """Received data with each :class:`WireTensor` as its tensor (the lists and dicts around them kept)."""
    if isinstance(value, WireTensor):
        return value.values
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
