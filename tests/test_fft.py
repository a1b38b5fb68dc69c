"""sparktensor.fft: values against numpy.fft and torch.fft, result dtypes, gradients against torch.fft (real and
complex inputs, every norm, odd and even lengths, cropping and padding), float64 gradient checks, second
derivatives, and numpy.fft called on tensors."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy

NORMS = ("backward", "ortho", "forward")
REAL_INPUT = ("rfft", "ihfft", "rfftn", "rfft2")
ONE_D = ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")
MANY_D = ("fftn", "ifftn", "rfftn", "irfftn", "fft2", "ifft2", "rfft2", "irfft2")
# (axes, s) of the n-d transforms on a (4, 5, 6) input: the last of axes is the one-sided one of rfftn
N_D_CASES = [(None, None), ((0, 2), None), ((2, 0), None), ((0, 2), (3, 8)), ((2, 0), (7, 5)), ((1,), (4,)),
             ((-1, 0), (-1, 5)), ((1, 2), (6, 3)), ((0, 1, 2), (5, 5, 9))]


def signal(rng, shape, name, complex_input=True):
    """Random values for ``name``'s input: real for the real-input transforms, else complex."""
    values = rng.standard_normal(shape)
    if name in REAL_INPUT or not complex_input:
        return values
    return values + 1j * rng.standard_normal(shape)


def torch_values(t):
    return t.detach().resolve_conj().numpy()


def cotangent(rng, y):
    """A random gradient for ``y`` (complex for a complex output)."""
    u = rng.standard_normal(y.shape)
    return u + 1j * rng.standard_normal(y.shape) if y.dtype.kind == "c" else u


def check_against_torch(device, rng, name, array, kwargs, torch_kwargs, numpy_kwargs=None, rtol=1e-10):
    """Value, dtype and device of ``st.fft.<name>`` against numpy.fft and torch.fft, and the gradient of a random
    cotangent against torch's."""
    x = st.tensor(array, device=device, requires_grad=True)
    t = torch.tensor(array, requires_grad=True)
    y = getattr(st.fft, name)(x, **kwargs)
    ty = getattr(torch.fft, name)(t, **torch_kwargs)
    assert y.shape == tuple(ty.shape) and y.device == x.device
    assert y.dtype == np.dtype(str(ty.dtype).replace("torch.", ""))
    np.testing.assert_allclose(to_numpy(y), torch_values(ty), rtol=rtol, atol=rtol * 10)
    expected = getattr(np.fft, name)(array, **(kwargs if numpy_kwargs is None else numpy_kwargs))
    np.testing.assert_allclose(to_numpy(y), expected, rtol=rtol, atol=rtol * 10)
    u = cotangent(rng, y)
    y.backward(st.tensor(u, dtype=y.dtype, device=device))
    ty.backward(torch.tensor(u, dtype=ty.dtype))
    assert x.grad.dtype == x.dtype and x.grad.shape == x.shape
    np.testing.assert_allclose(to_numpy(x.grad), torch_values(t.grad), rtol=rtol, atol=rtol * 10)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 4, 5, 10, 11], ids=lambda n: f"n={n}")
@pytest.mark.parametrize("m", [6, 7], ids=lambda m: f"m={m}")
@pytest.mark.parametrize("axis", [0, -1], ids=lambda a: f"axis={a}")
@pytest.mark.parametrize("name", ONE_D)
def test_one_dimensional_transforms_match_torch(device, rng, name, axis, m, n, norm):
    shape = (m, 3) if axis == 0 else (3, m)
    check_against_torch(device, rng, name, signal(rng, shape, name), dict(n=n, axis=axis, norm=norm),
                        dict(n=n, dim=axis, norm=norm))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name, axes, s", [(name, axes, s) for name in MANY_D for axes, s in N_D_CASES
                                           if not name.endswith("2") or axes is None or len(axes) == 2],
                         ids=lambda v: str(v))
def test_n_dimensional_transforms_match_torch(device, rng, name, axes, s, norm):
    kwargs = dict(s=s, norm=norm) if axes is None else dict(s=s, axes=axes, norm=norm)
    torch_kwargs = dict(s=s, norm=norm) if axes is None else dict(s=s, dim=axes, norm=norm)
    # NumPy 2 wants axes beside s: the 2-d transforms' default, or all axes
    numpy_axes = axes if axes is not None else ((-2, -1) if name.endswith("2") else (0, 1, 2))
    check_against_torch(device, rng, name, signal(rng, (4, 5, 6), name), kwargs, torch_kwargs,
                        dict(s=s, axes=numpy_axes, norm=norm))


@pytest.mark.parametrize("name, kwargs", [("fft", dict(n=9)), ("ifft", dict(n=4)), ("irfft", dict(n=7)),
                                          ("hfft", dict(n=10)), ("fftn", dict(s=(3, 8))),
                                          ("irfftn", dict(s=(6, 9)))])
def test_real_input_to_complex_transforms_gets_real_gradient(device, rng, name, kwargs):
    torch_kwargs = dict(kwargs)
    check_against_torch(device, rng, name, signal(rng, (5, 6), name, complex_input=False), kwargs, torch_kwargs,
                        {**kwargs, "axes": (0, 1)} if "s" in kwargs else kwargs)


@pytest.mark.parametrize("name, dtype", [(name, dtype) for name in ONE_D + MANY_D
                                         for dtype in (np.float32, np.complex64, np.float64, np.complex128, np.int64)
                                         if name not in REAL_INPUT or np.dtype(dtype).kind != "c"],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_result_dtypes_follow_precision(device, rng, name, dtype):
    array = (rng.standard_normal((4, 6)) * 3).astype(dtype)
    y = getattr(st.fft, name)(st.tensor(array, device=device))
    ty = getattr(torch.fft, name)(torch.tensor(array))
    assert y.dtype == np.dtype(str(ty.dtype).replace("torch.", ""))
    single = np.dtype(dtype) in (np.float32, np.complex64, np.int64)  # integers transform as the float32 default
    assert y.dtype.itemsize == (8 if y.dtype.kind == "c" else 4) * (1 if single else 2)
    np.testing.assert_allclose(to_numpy(y), torch_values(ty), rtol=1e-4 if single else 1e-10, atol=1e-4)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 5, 6, 12, 13], ids=lambda n: f"n={n}")
@pytest.mark.parametrize("name", ONE_D)
def test_one_dimensional_gradcheck(device, rng, name, n, norm):
    x = st.tensor(signal(rng, (2, 7), name), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda x: getattr(st.fft, name)(x, n=n, axis=-1, norm=norm), (x,))


@pytest.mark.parametrize("axes, s", N_D_CASES[:6], ids=[f"axes={a},s={s}" for a, s in N_D_CASES[:6]])
@pytest.mark.parametrize("name", ["fftn", "ifftn", "rfftn", "irfftn"])
def test_n_dimensional_gradcheck(device, rng, name, axes, s):
    x = st.tensor(signal(rng, (3, 2, 4), name), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda x: getattr(st.fft, name)(x, s=s, axes=axes, norm="ortho"), (x,))


def test_real_signal_through_complex_transforms_gradcheck(device, rng):
    x = st.tensor(rng.standard_normal((3, 5)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(lambda x: st.fft.fft(x, n=8, axis=0), (x,))
    assert st.autograd.gradcheck(lambda x: st.fft.irfft(x, n=6), (x,))


@pytest.mark.parametrize("axes", [None, 0, (1,), (0, 1), -1])
@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
def test_shifts_match_numpy_and_torch(device, rng, name, axes):
    array = rng.standard_normal((5, 6))
    x = st.tensor(array, device=device, requires_grad=True)
    t = torch.tensor(array, requires_grad=True)
    y = getattr(st.fft, name)(x, axes=axes)
    ty = getattr(torch.fft, name)(t, dim=axes)
    np.testing.assert_array_equal(to_numpy(y), getattr(np.fft, name)(array, axes=axes))
    np.testing.assert_array_equal(to_numpy(y), torch_values(ty))
    u = rng.standard_normal(y.shape)
    y.backward(st.tensor(u, device=device))
    ty.backward(torch.tensor(u))
    np.testing.assert_array_equal(to_numpy(x.grad), t.grad.numpy())
    assert st.autograd.gradcheck(lambda x: getattr(st.fft, name)(x, axes=axes), (x,))


@pytest.mark.parametrize("n", [1, 2, 7, 8])
@pytest.mark.parametrize("name", ["fftfreq", "rfftfreq"])
def test_frequencies_match_numpy_and_torch(device, name, n):
    f = getattr(st.fft, name)(n, d=0.25, device=device)
    assert f.dtype == st.get_default_dtype() == np.float32 and f.device == st.zeros(1, device=device).device
    np.testing.assert_allclose(to_numpy(f), getattr(np.fft, name)(n, d=0.25), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(f), getattr(torch.fft, name)(n, d=0.25).numpy(), rtol=1e-6)
    f64 = getattr(st.fft, name)(n, dtype=st.float64, device=device)
    assert f64.dtype == np.float64
    np.testing.assert_array_equal(to_numpy(f64), getattr(np.fft, name)(n))


def test_views_as_real_and_complex(device, rng):
    z = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    x = st.tensor(z, device=device, requires_grad=True)
    pairs = st.fft.view_as_real(x)
    np.testing.assert_array_equal(to_numpy(pairs), torch.view_as_real(torch.tensor(z)).numpy())
    np.testing.assert_array_equal(to_numpy(st.fft.view_as_complex(pairs)), z)
    assert st.autograd.gradcheck(st.fft.view_as_real, (x,))
    p = st.tensor(rng.standard_normal((3, 2)), device=device, requires_grad=True)
    assert st.autograd.gradcheck(st.fft.view_as_complex, (p,))


def test_numpy_fft_on_tensors_keeps_the_graph(rng):
    array = rng.standard_normal((4, 6))
    x = st.tensor(array, requires_grad=True)
    calls = [(np.fft.rfft, dict(n=8, axis=0)), (np.fft.fft, dict(norm="ortho")), (np.fft.fftn, dict(s=(3, 5),
             axes=(1, 0))), (np.fft.irfft2, dict()), (np.fft.ihfft, dict(n=5)), (np.fft.fftshift, dict(axes=1))]
    for fn, kwargs in calls:
        y = fn(x, **kwargs)
        assert isinstance(y, st.Tensor) and y.requires_grad, fn.__name__
        np.testing.assert_allclose(y.numpy(), fn(array, **kwargs), rtol=1e-12, atol=1e-12)
        same = getattr(st.fft, fn.__name__)(x, **kwargs)
        gy, gs = st.autograd.grad(y.sum() if y.dtype.kind == "f" else st.fft.view_as_real(y).sum(), x), \
            st.autograd.grad(same.sum() if same.dtype.kind == "f" else st.fft.view_as_real(same).sum(), x)
        np.testing.assert_array_equal(gy[0].numpy(), gs[0].numpy())
    out = st.zeros(4, 6, dtype=st.complex128)
    with st.no_grad():
        assert np.fft.fft(x, out=out) is out
    np.testing.assert_allclose(out.numpy(), np.fft.fft(array), rtol=1e-12)


@pytest.mark.parametrize("call, error, words", [
    (lambda x: st.fft.rfft(x.astype(st.complex64)), TypeError, "real tensor"),
    (lambda x: st.fft.fft(x, norm="none"), ValueError, "norm"),
    (lambda x: st.fft.fft(x, n=0), ValueError, "at least 1"),
    (lambda x: st.fft.fft(x, axis=2), IndexError, "axis 2"),
    (lambda x: st.fft.fftn(x, axes=(0, -2)), ValueError, "more than once"),
    (lambda x: st.fft.fftn(x, s=(3,), axes=(0, 1)), ValueError, "one size per axis"),
    (lambda x: st.fft.irfft(x[:, :1]), ValueError, "pass n"),
    (lambda x: st.fft.fft(x, axis=0, dim=1), TypeError, "dim="),
    (lambda x: st.fft.fftfreq(0), ValueError, "positive"),
    (lambda x: st.fft.fftfreq(4, dtype=st.int32), TypeError, "floating"),
    (lambda x: st.fft.fft(x.sum()), ValueError, "0-d"),
])
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error, match=words):
        call(st.ones(3, 4))


def test_dim_is_pytorchs_name_for_axis(rng):
    array = rng.standard_normal((4, 6))
    np.testing.assert_array_equal(st.fft.fft(st.tensor(array), dim=0).numpy(), np.fft.fft(array, axis=0))
    np.testing.assert_array_equal(st.fft.rfftn(st.tensor(array), dim=(1, 0)).numpy(),
                                  np.fft.rfftn(array, axes=(1, 0)))


SECOND_ORDER = [("fft", dict(n=7)), ("ifft", dict(n=4, norm="ortho")), ("rfft", dict(n=7)), ("irfft", dict(n=9)),
                ("hfft", dict(n=8, norm="forward")), ("ihfft", dict(n=5, norm="ortho")),
                ("fftn", dict(s=(4, 7), axes=(0, 1))), ("ifftn", dict(s=(2, 5), axes=(1, 0), norm="forward")),
                ("rfftn", dict(s=(2, 8), axes=(1, 0))), ("irfftn", dict(s=(5, 4), axes=(0, 1), norm="ortho")),
                ("fftshift", dict()), ("ifftshift", dict(axes=0))]


@pytest.mark.parametrize("name, kwargs, complex_input",
                         [(name, kwargs, c) for name, kwargs in SECOND_ORDER for c in (False, True)
                          if not (c and name in REAL_INPUT + ("ihfft",))], ids=str)
def test_gradients_differentiate_again(device, rng, name, kwargs, complex_input):
    x = st.tensor(signal(rng, (3, 6), name, complex_input), device=device, requires_grad=True)
    assert st.autograd.gradgradcheck(lambda x: getattr(st.fft, name)(x, **kwargs), (x,))


@pytest.mark.parametrize("complex_filter", [False, True])
def test_filter_through_rfft_and_irfft_second_derivatives(device, rng, complex_filter):
    w = signal(rng, (5,), "irfft", complex_filter)
    x = st.tensor(rng.standard_normal((3, 8)), device=device, requires_grad=True)
    assert st.autograd.gradgradcheck(lambda x: st.fft.irfft(st.fft.rfft(x) * st.tensor(w, device=device)), (x,))


def _hessian_vector_products(device, rng, loss, torch_loss, array):
    """``H v`` of a real loss by differentiating its gradient, here and in PyTorch."""
    v = signal(rng, array.shape, "fft", np.iscomplexobj(array))
    x = st.tensor(array, device=device, requires_grad=True)
    (g,) = st.autograd.grad(loss(x), x, create_graph=True)
    pairing = st.fft.view_as_real(g) * st.fft.view_as_real(st.tensor(v, device=device)) if g.dtype.kind == "c" \
        else g * st.tensor(v, device=device)
    (hv,) = st.autograd.grad(pairing.sum(), x)
    t = torch.tensor(array, requires_grad=True)
    (tg,) = torch.autograd.grad(torch_loss(t), t, create_graph=True)
    (thv,) = torch.autograd.grad((tg.conj() * torch.tensor(v)).real.sum(), t)
    np.testing.assert_allclose(to_numpy(g), torch_values(tg), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(to_numpy(hv), torch_values(thv), rtol=1e-10, atol=1e-10)
    assert st.autograd.gradgradcheck(loss, (x,))


def test_power_spectrum_loss_second_derivatives_match_torch(device, rng):
    c = rng.uniform(0.5, 2.0, 11)
    w = signal(rng, (4,), "irfft")

    def loss(x):
        power = (st.fft.view_as_real(st.fft.fft(x, n=11, norm="ortho")) ** 2).sum(axis=-1)
        return (power * st.tensor(c, device=device)).sum() + (st.fft.irfft(st.fft.rfft(x) * st.tensor(
            w, device=device), n=7) ** 3).sum()

    def torch_loss(t):
        return (torch.fft.fft(t, n=11, norm="ortho").abs() ** 2 * torch.tensor(c)).sum() + (torch.fft.irfft(
            torch.fft.rfft(t) * torch.tensor(w), n=7) ** 3).sum()
    _hessian_vector_products(device, rng, loss, torch_loss, rng.standard_normal((2, 7)))


def test_complex_input_loss_second_derivatives_match_torch(device, rng):
    def loss(x):
        y = st.fft.view_as_real(st.fft.ifftn(x, s=(3, 6), norm="forward"))
        return ((y ** 2).sum(axis=-1) ** 2).sum() + (st.fft.hfft(x, n=9) ** 3).sum()

    def torch_loss(t):
        return (torch.fft.ifftn(t, s=(3, 6), norm="forward").abs() ** 4).sum() + (torch.fft.hfft(t, n=9) ** 3).sum()
    _hessian_vector_products(device, rng, loss, torch_loss, signal(rng, (4, 5), "fft"))


STANDARD_SIGNATURES = {  # the Array API 2024.12 fft extension's
    **{name: "(x, /, *, n=None, axis=-1, norm='backward')" for name in ONE_D},
    **{name: "(x, /, *, s=None, axes=None, norm='backward')" for name in ("fftn", "ifftn", "rfftn", "irfftn")},
    "fftfreq": "(n, /, *, d=1.0, dtype=None, device=None)", "rfftfreq": "(n, /, *, d=1.0, dtype=None, device=None)",
    "fftshift": "(x, /, *, axes=None)", "ifftshift": "(x, /, *, axes=None)",
}


@pytest.mark.parametrize("name", sorted(STANDARD_SIGNATURES))
def test_signatures_are_the_standards(name):
    import inspect
    signature = str(inspect.signature(getattr(st.fft, name)))
    assert signature.replace(", dim=None", "") == STANDARD_SIGNATURES[name]  # dim=: PyTorch's name for the axes
    assert name in st.fft.__all__
