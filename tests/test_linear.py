"""``linear`` in each of its matrix-product orientations, against PyTorch in float64: values and gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy


@pytest.mark.parametrize("rows, features, out, layout", [
    (9, 5, 3, "C"),     # fewer columns than rows: x @ W.T
    (3, 70, 9, "C"),    # more columns than rows, inner dimension not small: (W @ x.T).T, a column-major result
    (3, 5, 9, "C"),     # a small inner dimension: x @ W.T again
    (9, 5, 3, "F"),     # a column-major input (the output of an earlier linear) takes the transposed form too
    (4, 6, 2, "batched"),
])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(device, rows, features, out, layout, bias):
    rng = np.random.default_rng(0)
    shape = (2, rows, features) if layout == "batched" else (rows, features)
    x = rng.standard_normal(shape)
    if layout == "F":
        x = np.asfortranarray(x)
    w, b = rng.standard_normal((out, features)), rng.standard_normal(out) if bias else None
    xs, ws = st.tensor(x, device=device, requires_grad=True), st.tensor(w, device=device, requires_grad=True)
    bs = st.tensor(b, device=device, requires_grad=True) if bias else None
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if bias else None
    y, yt = F.linear(xs, ws, bs), TF.linear(xt, wt, bt)
    np.testing.assert_allclose(to_numpy(y), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(yt.shape)
    (y * st.tensor(gy, device=device)).sum().backward()
    (yt * torch.tensor(gy)).sum().backward()
    for ours, theirs in ((xs, xt), (ws, wt)) + (((bs, bt),) if bias else ()):
        np.testing.assert_allclose(to_numpy(ours.grad), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rows, out", [(7, 3), (3, 7)])
def test_linear_gradgradcheck(device, rows, out):
    rng = np.random.default_rng(1)
    args = [st.tensor(rng.standard_normal(s), device=device, requires_grad=True) for s in ((rows, 4), (out, 4), (out,))]
    assert st.autograd.gradcheck(F.linear, args) and st.autograd.gradgradcheck(F.linear, args)
