"""PyTorch's piecewise-linear and smooth activations (``hardtanh``, ``relu6``, ``hardsigmoid``, ``hardshrink``,
``softshrink``, ``threshold``, ``softplus``, ``logsigmoid``, ``softsign``, ``selu``, ``celu``, ``tanhshrink``,
``glu``) and their layers, against PyTorch: values and gradients at random points, at the ends of the pieces
and at large ``|x|``, a float64 gradient check away from the kinks, ``inplace=True`` and the layers' reprs."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy

# name: (sparktensor fn, torch fn, points where the pieces meet)
CASES = {
    "hardtanh": (lambda x: F.hardtanh(x), lambda x: torch.nn.functional.hardtanh(x), [-1.0, 1.0]),
    "hardtanh_range": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: torch.nn.functional.hardtanh(x, -0.5, 2.0),
                       [-0.5, 2.0]),
    "relu6": (lambda x: F.relu6(x * 4), lambda x: torch.nn.functional.relu6(x * 4), [0.0, 1.5]),
    "hardsigmoid": (lambda x: F.hardsigmoid(x * 4), lambda x: torch.nn.functional.hardsigmoid(x * 4), [-0.75, 0.75]),
    "hardshrink": (lambda x: F.hardshrink(x), lambda x: torch.nn.functional.hardshrink(x), [-0.5, 0.5]),
    "softshrink": (lambda x: F.softshrink(x, 0.3), lambda x: torch.nn.functional.softshrink(x, 0.3), [-0.3, 0.3]),
    "threshold": (lambda x: F.threshold(x, 0.2, -3.0), lambda x: torch.nn.functional.threshold(x, 0.2, -3.0), [0.2]),
    "softplus": (lambda x: F.softplus(x * 10), lambda x: torch.nn.functional.softplus(x * 10), [2.0]),
    "softplus_beta": (lambda x: F.softplus(x * 10, beta=2.0, threshold=5.0),
                      lambda x: torch.nn.functional.softplus(x * 10, beta=2.0, threshold=5.0), [0.25]),
    "logsigmoid": (lambda x: F.logsigmoid(x * 10), lambda x: torch.nn.functional.logsigmoid(x * 10), []),
    "softsign": (lambda x: F.softsign(x), lambda x: torch.nn.functional.softsign(x), [0.0]),
    "selu": (lambda x: F.selu(x * 3), lambda x: torch.nn.functional.selu(x * 3), [0.0]),
    "celu": (lambda x: F.celu(x * 3, alpha=0.7), lambda x: torch.nn.functional.celu(x * 3, alpha=0.7), [0.0]),
    "tanhshrink": (lambda x: F.tanhshrink(x), lambda x: torch.nn.functional.tanhshrink(x), []),
    "glu": (lambda x: F.glu(x, dim=1), lambda x: torch.nn.functional.glu(x, dim=1), []),
}


def compare(fn, torch_fn, values, device, upstream, grad_rtol=1e-12):
    x = st.tensor(values, device=device, requires_grad=True)
    tx = torch.tensor(values, requires_grad=True)
    y, ty = fn(x), torch_fn(tx)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    y.backward(st.tensor(upstream, device=device))
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=grad_rtol, atol=1e-14)


#: PyTorch's hardsigmoid backward multiplies by 1/6, and celu's by 1/alpha, rounded to float32, in float64 too
#: (3e-8 and 6e-8 off; the float64 gradient check below holds these to central differences instead)
GRAD_RTOL = {"hardsigmoid": 1e-7, "celu": 1e-7}


#: how much the case scales x before the activation (its kinks, in x, lie at kink / scale)
SCALES = {"relu6": 4.0, "hardsigmoid": 4.0, "softplus": 10.0, "softplus_beta": 10.0, "selu": 3.0, "celu": 3.0}


@pytest.mark.parametrize("name", list(CASES))
def test_activation_matches_torch(device, rng, name):
    fn, torch_fn, kinks = CASES[name]
    values = rng.uniform(-1.2, 1.2, (4, 6))
    upstream = rng.standard_normal(tuple(torch_fn(torch.tensor(values)).shape))
    compare(fn, torch_fn, values, device, upstream, GRAD_RTOL.get(name, 1e-12))
    at = np.array(kinks) / SCALES.get(name, 1.0)
    if kinks:  # exactly where two pieces meet: the gradient PyTorch gives there
        compare(fn, torch_fn, at, device, np.ones(at.shape), GRAD_RTOL.get(name, 1e-12))
    # central differences only away from the kinks
    smooth = values if name == "glu" else values[np.all(np.abs(values[..., None] - at) > 0.01, axis=-1)]
    assert st.autograd.gradcheck(fn, [st.tensor(smooth, device=device, requires_grad=True)])


@pytest.mark.parametrize("name", ["softplus", "logsigmoid", "selu", "celu", "softsign", "tanhshrink"])
def test_large_inputs_give_finite_values_and_gradients(device, name):
    fn, torch_fn, _ = CASES[name]
    values = np.array([-800.0, -50.0, 50.0, 800.0]) / 10
    compare(fn, torch_fn, values, device, np.ones(4))
    x = st.tensor(values, device=device, requires_grad=True)
    fn(x).sum().backward()
    assert np.isfinite(to_numpy(x.grad)).all()


@pytest.mark.parametrize("name, args", [("hardtanh", (-0.5, 0.5)), ("relu6", ()), ("hardsigmoid", ()),
                                        ("threshold", (0.1, 2.0)), ("selu", ()), ("celu", (0.5,))])
def test_inplace_writes_into_the_input_as_torch(device, rng, name, args):
    values = rng.uniform(-4, 4, (3, 5))
    x = st.tensor(values, device=device)
    tx = torch.tensor(values)
    y = getattr(F, name)(x, *args, inplace=True)
    getattr(torch.nn.functional, name)(tx, *args, inplace=True)
    assert y is x
    np.testing.assert_allclose(to_numpy(x), tx.numpy(), rtol=1e-12)


LAYERS = [
    ("Hardtanh", (), {}), ("Hardtanh", (-2.0, 3.0), {"inplace": True}), ("ReLU6", (), {}),
    ("ReLU6", (), {"inplace": True}), ("Hardsigmoid", (), {}), ("Hardshrink", (), {}), ("Softshrink", (0.2,), {}),
    ("Threshold", (0.1, 20.0), {}), ("Softplus", (), {}), ("Softplus", (2.0, 10.0), {}), ("LogSigmoid", (), {}),
    ("Softsign", (), {}), ("SELU", (), {}), ("CELU", (0.5,), {}), ("Tanhshrink", (), {}), ("GLU", (), {}),
    ("GLU", (0,), {}),
]


@pytest.mark.parametrize("layer, args, kwargs", LAYERS)
def test_layers_match_torch_and_print_alike(device, rng, layer, args, kwargs):
    values = rng.uniform(-4, 4, (4, 6))
    ours, theirs = getattr(st.nn, layer)(*args, **kwargs), getattr(torch.nn, layer)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    np.testing.assert_allclose(to_numpy(ours(st.tensor(values, device=device))),
                               theirs(torch.tensor(values)).numpy(), rtol=1e-12, atol=1e-14)


def test_bad_arguments_name_the_problem(device):
    x = st.ones(3, 5, device=device)
    with pytest.raises(ValueError, match="odd size 5"):
        F.glu(x)
    with pytest.raises(ValueError, match="min_val 2 is above max_val 1"):
        F.hardtanh(x, 2, 1)
    with pytest.raises(ValueError, match="lambd"):
        F.softshrink(x, -1.0)
    with pytest.raises(ValueError, match="alpha"):
        F.celu(x, 0.0)
