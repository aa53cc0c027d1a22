"""Part 1 (tensors): the reference solutions against the spec's semantics.

Every expected value here is written out by hand or computed with NumPy, never
with the function under test.
"""

import numpy as np
import pytest
import torch

from solutions.pytorch_vfa import (
    add_axis,
    column,
    columns_concatenated,
    columns_stacked,
    drop_singleton_axes,
    flat_view,
    move_first_axis_last,
    select_device,
    tensor_from_data,
)

RAW = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def same_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# --- tensor_from_data ---------------------------------------------------------


@pytest.mark.parametrize(
    "data, dtype",
    [
        (RAW, torch.int64),
        ([1, 2, 3], torch.int64),
        ([[1.0, 2.5], [3.0, 4.0]], torch.float32),
        ([[1, 2.5], [3, 4]], torch.float32),  # one float makes the whole tensor float
        ([True, False], torch.bool),
    ],
)
def test_tensor_from_list_infers_dtype(data, dtype):
    t = tensor_from_data(data)
    assert isinstance(t, torch.Tensor)
    assert t.dtype == dtype
    assert t.shape == np.array(data).shape
    assert t.tolist() == np.array(data).tolist()


def test_tensor_from_list_is_a_copy():
    data = [[1, 2], [3, 4]]
    t = tensor_from_data(data)
    data[0][0] = 100
    assert t[0, 0].item() == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.int64, np.uint8])
def test_tensor_from_array_keeps_dtype_values_and_shape(dtype):
    array = np.array(RAW, dtype=dtype)
    t = tensor_from_data(array)
    assert t.dtype == torch.from_numpy(np.zeros(1, dtype=dtype)).dtype
    assert t.shape == (3, 3)
    np.testing.assert_array_equal(t.numpy(), array)


def test_tensor_from_array_shares_memory():
    array = np.array(RAW, dtype=np.float64)
    t = tensor_from_data(array)
    assert t.data_ptr() == array.__array_interface__["data"][0]
    array[1, 2] = -42.0  # a change through the array is seen by the tensor ...
    assert t[1, 2].item() == -42.0
    t[0, 0] = 17.0  # ... and the other way round
    assert array[0, 0] == 17.0


# --- indexing and reshaping ---------------------------------------------------


@pytest.mark.parametrize(
    "j, expected",
    [(0, [1, 4, 7]), (1, [2, 5, 8]), (2, [3, 6, 9]), (-1, [3, 6, 9]), (-2, [2, 5, 8]), (-3, [1, 4, 7])],
)
def test_column(j, expected):
    c = column(torch.tensor(RAW), j)
    assert c.dim() == 1
    assert c.tolist() == expected


def test_column_of_non_square_matrix():
    m = torch.arange(12).reshape(3, 4)  # [[0,1,2,3],[4,5,6,7],[8,9,10,11]]
    assert column(m, -1).tolist() == [3, 7, 11]
    assert column(m, 1).tolist() == [1, 5, 9]


def test_columns_concatenated():
    out = columns_concatenated(torch.tensor(RAW))
    assert out.shape == (9,)
    assert out.tolist() == [1, 4, 7, 2, 5, 8, 3, 6, 9]
    m = np.arange(6).reshape(2, 3)
    assert columns_concatenated(torch.from_numpy(m)).tolist() == m.T.reshape(-1).tolist()


def test_columns_stacked():
    out = columns_stacked(torch.tensor(RAW))
    assert out.shape == (3, 3)
    assert out.tolist() == [[1, 4, 7], [2, 5, 8], [3, 6, 9]]
    m = np.arange(6).reshape(2, 3)
    out = columns_stacked(torch.from_numpy(m))
    assert out.shape == (3, 2)
    assert out.tolist() == m.T.tolist()


@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 4, 3), (2, 3, 4, 5), (1, 3, 1, 2)])
def test_move_first_axis_last(shape):
    a = np.arange(int(np.prod(shape))).reshape(shape)
    out = move_first_axis_last(torch.from_numpy(a))
    expected = np.moveaxis(a, 0, -1)
    assert tuple(out.shape) == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)


def test_move_first_axis_last_matches_the_course_example():
    x = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0))
    out = move_first_axis_last(x)
    assert out.shape == (4, 3, 2)
    for i in range(2):
        for j in range(4):
            for k in range(3):
                assert out[j, k, i] == x[i, j, k]


@pytest.mark.parametrize(
    "shape, expected",
    [((2, 1, 2, 1, 2), (2, 2, 2)), ((1, 3), (3,)), ((3, 1), (3,)), ((1, 1), ()), ((2, 3), (2, 3))],
)
def test_drop_singleton_axes(shape, expected):
    a = np.arange(int(np.prod(shape))).reshape(shape)
    out = drop_singleton_axes(torch.from_numpy(a))
    assert tuple(out.shape) == expected
    np.testing.assert_array_equal(out.numpy(), a.reshape(expected))


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_add_axis_vector(dim):
    x = torch.tensor([1, 2, 3, 4])
    out = add_axis(x, dim)
    expected = np.expand_dims(np.array([1, 2, 3, 4]), dim)
    assert tuple(out.shape) == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)


def test_add_axis_course_examples():
    x = torch.tensor([1, 2, 3, 4])
    assert add_axis(x, 0).tolist() == [[1, 2, 3, 4]]
    assert add_axis(x, 1).tolist() == [[1], [2], [3], [4]]
    assert add_axis(x, -1).shape == (4, 1)  # negative dim: counted from the end of the result


@pytest.mark.parametrize("dim, shape", [(0, (1, 2, 3)), (2, (2, 3, 1)), (-1, (2, 3, 1)), (-2, (2, 1, 3)), (-3, (1, 2, 3))])
def test_add_axis_matrix(dim, shape):
    out = add_axis(torch.arange(6).reshape(2, 3), dim)
    assert tuple(out.shape) == shape
    assert out.reshape(-1).tolist() == list(range(6))


def test_flat_view_values_and_shape():
    out = flat_view(torch.tensor(RAW))
    assert out.shape == (9,)
    assert out.tolist() == list(range(1, 10))


def test_flat_view_shares_storage():
    x = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    v = flat_view(x)
    assert same_storage(v, x)
    assert v.data_ptr() == x.data_ptr()
    v[5] = -1.0  # writing through the view changes x ...
    assert x[0, 1, 1].item() == -1.0
    x[1, 2, 3] = 99.0  # ... and writing to x changes the view
    assert v[23].item() == 99.0


def test_select_device():
    assert select_device(False) == torch.device("cpu")
    expected = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    assert select_device(True).type == expected.type
    assert select_device().type == expected.type  # prefers CUDA by default
    assert isinstance(select_device(False), torch.device)


def test_select_device_with_cuda_available(monkeypatch):
    # Pretend CUDA is there: preferring it gives cuda, not preferring it gives cpu.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device(True).type == "cuda"
    assert select_device(False) == torch.device("cpu")


def test_select_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(True) == torch.device("cpu")
    assert select_device(False) == torch.device("cpu")
