"""The CuPy stand-in is as strict as CuPy where code usually goes wrong, and sparktensor takes it for CuPy."""
import sys

import numpy as np
import pytest

import cupy_standin
import sparktensor as st
from sparktensor import backend


@pytest.fixture
def cupy():
    """The stand-in as ``cupy`` for one test (left in place when the whole run uses it)."""
    if cupy_standin.is_installed():
        yield sys.modules["cupy"]
        return
    if "cupy" in sys.modules:
        pytest.skip("real CuPy is loaded: these tests are about the stand-in")
    yield cupy_standin.install()
    cupy_standin.uninstall()


def test_implicit_conversion_and_numpy_functions_are_refused(cupy):
    a = cupy.arange(6.0).reshape(2, 3)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="numpy.exp"):
        np.exp(a)
    with pytest.raises(TypeError, match="concatenate"):
        np.concatenate([a, a])
    with pytest.raises(TypeError):
        np.ones(3) + a


def test_its_functions_refuse_numpy_arrays_but_copy_them_in_explicitly(cupy):
    a = cupy.ones(3)
    with pytest.raises(TypeError, match="Unsupported type"):
        cupy.add(a, np.ones(3))
    with pytest.raises(TypeError, match="Unsupported type"):
        a + np.ones(3)
    b = cupy.asarray(np.arange(3.0))
    assert type(b) is cupy.ndarray
    np.testing.assert_array_equal((a + b).get(), np.arange(3.0) + 1)


def test_get_and_asnumpy_are_the_ways_to_the_host(cupy):
    values = np.random.default_rng(0).standard_normal((2, 3))
    a = cupy.asarray(values)
    for host in (a.get(), cupy.asnumpy(a)):
        assert type(host) is np.ndarray
        np.testing.assert_array_equal(host, values)
    host[0, 0] = 100.0  # a copy, not a view of the device data
    assert float(a[0, 0]) == values[0, 0]


def test_reductions_stay_on_the_device_and_out_is_returned_as_given(cupy):
    a = cupy.arange(4.0)
    total = cupy.sum(a)
    assert type(total) is cupy.ndarray and total.ndim == 0 and float(total) == 6.0
    out = cupy.empty(4)
    assert cupy.multiply(a, 2, out=out) is out
    before = a
    a += 1
    assert a is before
    np.testing.assert_array_equal(out.get(), np.arange(4.0) * 2)


def test_sparktensor_takes_it_for_cupy(cupy):
    t = st.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    assert backend.is_cupy_array(t.data) and st.get_array_module(t) is cupy
    assert t.device == "cuda:0"
    (t * t).sum().backward()
    assert type(t.grad.numpy()) is np.ndarray
    np.testing.assert_array_equal(t.grad.numpy(), [2.0, 4.0, 6.0])


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_a_training_step_on_cuda_reads_nothing_back_but_the_label_check(cupy, optimizer):
    st.manual_seed(0)
    model = st.nn.Sequential(st.nn.Linear(8, 16), st.nn.ReLU(), st.nn.Linear(16, 3)).to("cuda")
    opt = getattr(st.optim, optimizer)(model.parameters(), lr=0.1)
    x, y = st.randn(4, 8, device="cuda"), st.tensor([0, 2, 1, 2], device="cuda")

    def step():
        loss = st.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        st.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    step()
    cupy_standin.HOST_READS.clear()
    step()
    # cross_entropy checks that the labels are in range (one bool read) rather than index out of range silently
    assert dict(cupy_standin.HOST_READS) == {"__bool__": 1}
