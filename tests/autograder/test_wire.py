"""The channel back from a worker is data only: validated, never unpickled."""

import base64
import json

import pytest
import torch

from autograder.worker import wire


def roundtrip(value):
    return wire.loads(wire.dumps(value))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.bool, torch.bfloat16])
def test_tensors_cross_with_their_dtype_shape_and_values(dtype):
    t = torch.arange(6).reshape(2, 3).to(dtype)
    got = roundtrip(t)
    assert got.dtype == dtype and got.shape == (2, 3) and got.device == "cpu"
    assert torch.equal(got.values, t)


def test_zero_dim_and_empty_tensors():
    assert roundtrip(torch.tensor(2.5)).values.item() == 2.5
    assert roundtrip(torch.zeros(0, 3)).shape == (0, 3)


def test_graph_flags_travel_with_the_tensor():
    w = torch.ones(2, requires_grad=True)
    got = roundtrip({"leaf": w, "out": w * 2, "plain": torch.ones(2)})
    assert (got["leaf"].requires_grad, got["leaf"].has_grad_fn) == (True, False)
    assert got["out"].has_grad_fn and not got["plain"].requires_grad


def test_meta_tensors_have_shape_but_no_values():
    got = roundtrip(torch.empty(3, 4, device="meta"))
    assert got.device == "meta" and got.shape == (3, 4)


class LyingTensor(torch.Tensor):
    """A subclass that claims to equal everything."""

    def __eq__(self, other):
        return True

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return super().__torch_function__(func, types, args, kwargs or {})


def test_tensor_subclasses_are_stripped_to_plain_tensors():
    lying = torch.zeros(3).as_subclass(LyingTensor)
    got = roundtrip(lying)
    assert type(got.values) is torch.Tensor
    assert not torch.equal(got.values, torch.ones(3))


def test_objects_that_are_not_data_are_named_not_sent():
    class Evil:
        def __reduce__(self):
            raise AssertionError("pickled!")

    assert roundtrip(Evil()) == {"__unsupported__": "Evil"}


@pytest.mark.parametrize("payload, problem", [
    (b"\x80\x04\x95 pickled bytes", "not JSON"),
    (json.dumps({"__tensor__": True, "dtype": "object", "shape": [1], "device": "cpu", "data": ""}).encode(),
     "unknown tensor dtype"),
    (json.dumps({"__tensor__": True, "dtype": "float32", "shape": [4], "device": "cpu",
                 "data": base64.b64encode(b"\0" * 8).decode()}).encode(), "does not match its shape"),
    (json.dumps({"__tensor__": True, "dtype": "float32", "shape": [-1], "device": "cpu", "data": ""}).encode(),
     "shape"),
    (json.dumps({"__tensor__": True, "dtype": "float32", "shape": [2**40], "device": "cpu", "data": ""}).encode(),
     "size limit"),
    (json.dumps({"__tensor__": True, "dtype": "float32", "shape": [1], "device": "gpu9", "data": ""}).encode(),
     "unknown device"),
])
def test_malformed_messages_are_rejected_with_a_reason(payload, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.loads(payload)


def test_deeply_nested_messages_are_rejected():
    nested = []
    for _ in range(40):
        nested = [nested]
    with pytest.raises(wire.WireError, match="nested"):
        wire.dumps(nested)


def _bits(t: torch.Tensor) -> bytes:
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _same_data(a, b) -> bool:
    """Equal as received data: the same structure, and tensors with the same flags, dtype, shape and bits."""
    if isinstance(a, wire.WireTensor):
        return isinstance(b, wire.WireTensor) and (a.device, a.requires_grad, a.has_grad_fn, a.dtype, a.shape) == \
            (b.device, b.requires_grad, b.has_grad_fn, b.dtype, b.shape) and type(b.values) is torch.Tensor and \
            (a.values.device.type == "meta" or _bits(a.values) == _bits(b.values))
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same_data(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same_data(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return type(a) is type(b) and a == b


def _values_to_receive():
    import numpy as np

    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    w = torch.ones(2, requires_grad=True)
    return [
        torch.tensor(2.5), torch.zeros(0, 3), base, base.t(), base[1:, ::2], base[1],
        *(torch.arange(6).reshape(2, 3).to(dtype) for dtype in (torch.float64, torch.int64, torch.bool,
                                                                 torch.bfloat16, torch.uint8, torch.int8)),
        torch.tensor([1 + 2j, 3 - 1j]).conj(), torch.empty(3, 4, device="meta"),
        {"leaf": w, "out": w * 2, 3: (1, 2.5, None), "nested": [[base], {"x": True}]},
        torch.zeros(3).as_subclass(LyingTensor), np.float32(1.5), np.int64(7), np.bool_(True),
        float("nan"), float("-inf"), -0.0, {"__tensor__": True}, object(),
        wire.loads(wire.dumps({"stored": torch.ones(2, requires_grad=True) * 3, "meta": torch.empty(2, device="meta")})),
    ]


@pytest.mark.parametrize("value", _values_to_receive(), ids=lambda v: type(v).__name__)
def test_received_is_the_round_trip_without_the_bytes(value):
    assert _same_data(wire.loads(wire.dumps(value)), wire.received(value))


def test_received_values_are_their_own():
    t = torch.zeros(3)
    got = wire.received({"t": t, "view": t[1:]})
    t.add_(1)
    assert not got["t"].values.any() and not got["view"].values.any()


def test_received_refuses_what_the_wire_refuses():
    with pytest.raises(wire.WireError, match="dtype"):
        wire.received(torch.zeros(2, dtype=torch.uint16))
    with pytest.raises(wire.WireError, match="nested too deeply"):
        value = []
        for _ in range(wire.MAX_DEPTH + 2):
            value = [value]
        wire.received(value)
