"""Part 1 — tensors (15 points). Pure tensor manipulations: compared exactly.

Every input is drawn from the check's seed, so that the students' self-check
(public cases, at a seed grading never uses) shares no input with grading.
"""

import torch

from autograder.checks import Case, call, check


def randn(ctx, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(ctx.seed))


def digits(ctx, *shape: int, low: int = 1) -> torch.Tensor:
    """Small integers, easy to read in feedback (a matrix of digits, say), drawn from the seed."""
    return torch.randint(low, 10, shape, generator=torch.Generator().manual_seed(ctx.seed + 1))


def reshaping_cases(ctx, function: str, inputs: list[torch.Tensor], **kwargs) -> list[Case]:
    return [Case("call_on_tensor", {"function": function, "x": x, "device": ctx.device, **kwargs},
                 call(function, x, **kwargs)) for x in inputs]


@check("tensors.from_data", group="tensors", points=3, function="tensor_from_data")
def test_tensor_from_data(ctx):
    # integers, floats (quarters: exact in float32), three levels deep
    lists = [digits(ctx, 2, 3, low=-9).tolist(), (digits(ctx, 2, 2, low=-9) / 4 + 0.25).tolist(),
             digits(ctx, 2, 2, 1, low=0).tolist()]
    cases = [Case("tensor_from_list", {"data": data}, call("tensor_from_data", data)) for data in lists]
    for dtype in ("float64", "int32"):
        values = digits(ctx, 2, 3, low=-9)
        cases.append(Case("tensor_from_array", {"values": values, "dtype": dtype},
                          f"tensor_from_data(np.array({values.tolist()}, dtype=np.{dtype}))"))
    ctx.grade(cases)


@check("tensors.column", group="tensors", points=1, function="column")
def test_column(ctx):
    x, example = randn(ctx, 4, 5), digits(ctx, 3, 3)
    ctx.grade([Case("call_on_tensor", {"function": "column", "x": m, "j": j, "device": ctx.device},
                    call("column", m, j)) for m, j in ((example, 1), (example, -1), (x, 2), (x, -5))])


@check("tensors.columns_concatenated", group="tensors", points=2, function="columns_concatenated")
def test_columns_concatenated(ctx):
    ctx.grade(reshaping_cases(ctx, "columns_concatenated", [digits(ctx, 3, 3), randn(ctx, 3, 4), randn(ctx, 2, 5)]))


@check("tensors.columns_stacked", group="tensors", points=2, function="columns_stacked")
def test_columns_stacked(ctx):
    ctx.grade(reshaping_cases(ctx, "columns_stacked", [digits(ctx, 3, 3), randn(ctx, 3, 4), randn(ctx, 2, 5)]))


@check("tensors.move_first_axis_last", group="tensors", points=2, function="move_first_axis_last")
def test_move_first_axis_last(ctx):
    ctx.grade(reshaping_cases(ctx, "move_first_axis_last",
                              [randn(ctx, 3), randn(ctx, 2, 3), randn(ctx, 2, 4, 3), randn(ctx, 2, 1, 3, 4)]))


@check("tensors.drop_singleton_axes", group="tensors", points=1, function="drop_singleton_axes")
def test_drop_singleton_axes(ctx):
    ctx.grade(reshaping_cases(ctx, "drop_singleton_axes",
                              [randn(ctx, 2, 1, 2, 1, 2), randn(ctx, 1, 3, 1), randn(ctx, 4)]))


@check("tensors.add_axis", group="tensors", points=1, function="add_axis")
def test_add_axis(ctx):
    x = digits(ctx, 4)
    y = randn(ctx, 2, 3)
    ctx.grade([Case("call_on_tensor", {"function": "add_axis", "x": t, "dim": dim, "device": ctx.device},
                    call("add_axis", t, dim)) for t, dim in ((x, 0), (x, 1), (y, -1), (y, -2), (y, 1))])


@check("tensors.flat_view", group="tensors", points=2, function="flat_view")
def test_flat_view(ctx):
    ctx.grade([Case("flat_view", {"x": x, "device": ctx.device}, call("flat_view", x))
               for x in (digits(ctx, 3, 3), randn(ctx, 2, 3, 4))])


@check("tensors.select_device", group="tensors", points=1, function="select_device")
def test_select_device(ctx):
    ctx.grade([Case("select_device", {"prefer_cuda": prefer}, call("select_device", prefer))
               for prefer in (False, True)])
