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
