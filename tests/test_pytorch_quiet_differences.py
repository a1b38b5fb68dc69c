"""Places where ``nn`` once computed something other than PyTorch without a word, each against PyTorch: ``F.pad``'s
pairs from the last dimension, softmax without ``dim``, ``cosine_similarity`` of inputs broadcast along ``dim``,
state dicts of a module registered twice, instance norms' running statistics, and ``dropout2d`` of 3-D input."""
import warnings

import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from backends import to_numpy

PADS = [((1, 2), {}), ((0, 1), {}), ((1, 1, 2, 0), {}), ((1, 1, 1, 1, 1, 1), {"value": -1.0}),
        ((1, 1), {"mode": "reflect"}), ((2, 1, 1, 1), {"mode": "reflect"}), ((1, 2), {"mode": "replicate"}),
        ((2, 3), {"mode": "circular"}), ((-1, 2), {}), ((1, -2, -1, 0), {"value": 3.5}), ((0, 0), {})]


@pytest.mark.parametrize("pad, kwargs", PADS)
def test_pad_takes_pairs_from_the_last_dimension_as_torch(device, rng, pad, kwargs):
    a = rng.standard_normal((2, 3, 4))
    x, tx = st.tensor(a, device=device, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = F.pad(x, pad, **kwargs), torch.nn.functional.pad(tx, pad, **kwargs)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy())
    upstream = rng.standard_normal(tuple(ty.shape))
    y.backward(st.tensor(upstream, device=device))
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy())


def test_pad_errors_name_the_problem(device):
    x = st.ones(2, 3, device=device)
    with pytest.raises(TypeError, match="tuple of ints"):
        F.pad(x, 1)
    with pytest.raises(ValueError, match="pairs"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="reflect padding of 3"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="takes no value"):
        F.pad(x, (1, 0), mode="replicate", value=2.0)
    with pytest.raises(ValueError, match="'constant' mode only"):
        F.pad(x, (-1, 0), mode="circular")
    y = F.pad(x, (0, 0))
    assert y is not x and y.shape == x.shape


@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 4), (1, 2, 2, 4)])
@pytest.mark.parametrize("name, module", [("softmax", "Softmax"), ("log_softmax", "LogSoftmax"),
                                          ("softmin", "Softmin")])
def test_softmax_without_dim_picks_torchs_dim_and_warns(device, rng, shape, name, module):
    a = rng.standard_normal(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's own deprecation warning
        expected = getattr(torch.nn.functional, name)(torch.tensor(a)).numpy()
        expected_module = getattr(torch.nn, module)()(torch.tensor(a)).numpy()
    with pytest.warns(UserWarning, match="without dim"):
        found = getattr(F, name)(st.tensor(a, device=device))
    np.testing.assert_allclose(to_numpy(found), expected, rtol=1e-12)
    with pytest.warns(UserWarning, match="without dim"):
        found = getattr(st.nn, module)()(st.tensor(a, device=device))
    np.testing.assert_allclose(to_numpy(found), expected_module, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # with dim there is nothing to warn about
        found = getattr(F, name)(st.tensor(a, device=device), dim=-1, dtype=st.float32)
    expected = getattr(torch.nn.functional, name)(torch.tensor(a), dim=-1, dtype=torch.float32)
    assert found.dtype == np.float32
    np.testing.assert_allclose(to_numpy(found), expected.numpy(), rtol=1e-6)


@pytest.mark.parametrize("shapes, dim", [(((3, 4), (1, 4)), 0), (((2, 3, 4), (3, 1)), 1), (((3, 4), (3, 4)), 1)])
def test_cosine_similarity_broadcasts_before_the_norms(device, rng, shapes, dim):
    a, b = (rng.standard_normal(s) for s in shapes)
    ours = [st.tensor(v, device=device, requires_grad=True) for v in (a, b)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (a, b)]
    y, ty = F.cosine_similarity(*ours, dim=dim), torch.nn.functional.cosine_similarity(*theirs, dim=dim)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    assert np.abs(to_numpy(y)).max() <= 1 + 1e-12
    y.sum().backward()
    ty.sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(o.grad), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_module_registered_twice_is_in_the_state_dict_under_both_names():
    shared, tshared = st.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours = st.nn.ModuleDict({"a": shared, "b": shared})
    theirs = torch.nn.ModuleDict({"a": tshared, "b": tshared})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})  # strict: every key
    np.testing.assert_array_equal(shared.weight.numpy(), tshared.weight.detach().numpy())
    assert len(list(ours.modules())) == 2 and len(list(ours.named_modules(remove_duplicate=False))) == 3


@pytest.mark.parametrize("momentum", [0.1, None])
def test_instance_norm_running_statistics_as_torch(rng, momentum):
    theirs = torch.nn.InstanceNorm2d(3, momentum=momentum, affine=True, track_running_stats=True).double()
    ours = st.nn.InstanceNorm2d(3, momentum=momentum, affine=True, track_running_stats=True).double()
    for _ in range(3):
        x = rng.standard_normal((2, 3, 4, 4)) * 2 + 1
        ours(st.tensor(x))
        theirs(torch.tensor(x))
    expected = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value.numpy(), expected[key].numpy(), rtol=1e-12, err_msg=key)
    assert int(ours.state_dict()["num_batches_tracked"]) == 0


def test_dropout1d_and_dropout2d_of_3d_input_drop_channels_of_n_c_l(device):
    st.manual_seed(3)
    x = st.ones(16, 8, 5, device=device)
    with pytest.warns(UserWarning, match=r"\(N, C, L\)"):
        y = to_numpy(F.dropout2d(x, 0.5))
    for found in (y, to_numpy(F.dropout1d(x, 0.5)), to_numpy(st.nn.Dropout1d(0.5)(x))):
        per_channel = found.reshape(16, 8, 5)
        assert ((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1)).all()  # whole (n, c) rows
        dropped = (per_channel == 0).all(-1)
        assert 0 < dropped.sum() < 128
        assert (dropped.any(1) & ~dropped.all(1)).any()  # channels of one sample apart: not (C, H, W) slices
    assert repr(st.nn.Dropout1d(0.25)) == repr(torch.nn.Dropout1d(0.25))


def test_a_batch_norm_checkpoint_without_its_step_count_loads_as_in_torch():
    reference = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    old = {k: v.numpy() for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    theirs.load_state_dict({k: torch.tensor(v) for k, v in old.items()})  # PyTorch accepts it
    ours = st.nn.Sequential(st.nn.Conv2d(1, 2, 3), st.nn.BatchNorm2d(2))
    assert ours.load_state_dict(old) == ([], [])
    np.testing.assert_array_equal(ours[1].running_var.numpy(), reference[1].running_var.numpy())
    with pytest.raises(RuntimeError, match="missing keys: 1.running_mean"):  # other keys are still required
        ours.load_state_dict({k: v for k, v in old.items() if k != "1.running_mean"})
