"""FlatLayout: weights, buffers and optimizer state into one buffer and back, exactly."""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from dist_helpers import mlp


def _step(model, optimizer, seed):
    rng = np.random.default_rng(seed)
    x, y = st.tensor(rng.standard_normal((8, 64)).astype(np.float32)), st.tensor(rng.integers(0, 10, 8))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


@pytest.mark.parametrize("make", [
    lambda p: st.optim.SGD(p, lr=0.1, momentum=0.9),
    lambda p: st.optim.Adam(p, lr=1e-2),
    lambda p: st.optim.Adam(p, lr=1e-2, amsgrad=True),
    lambda p: st.optim.RMSprop(p, lr=1e-2, momentum=0.5, centered=True),
], ids=["sgd-momentum", "adam", "amsgrad", "rmsprop"])
def test_state_round_trips_and_continues_identically(make):
    model = mlp(seed=1)
    optimizer = make(model.parameters())
    layout = dist.FlatLayout(model, optimizer)
    assert not optimizer.state, "laying out the state must not step the real optimizer"
    params = sum(p.size for p in model.parameters())
    assert layout.weights_size == params and layout.size > params
    _step(model, optimizer, 0)
    flat = layout.flatten(model, optimizer)
    assert flat.shape == (layout.size,) and flat.dtype == np.float32

    twin = mlp(seed=2)
    twin_optimizer = make(twin.parameters())
    layout.unflatten(flat, twin, twin_optimizer)
    np.testing.assert_array_equal(layout.flatten(twin, twin_optimizer), flat)
    _step(model, optimizer, 1)
    _step(twin, twin_optimizer, 1)
    np.testing.assert_array_equal(layout.flatten(twin, twin_optimizer), layout.flatten(model, optimizer))


def test_adam_layout_holds_moments_and_step():
    model = mlp()
    layout = dist.FlatLayout(model, st.optim.Adam(model.parameters()))
    keys = {key for _, key, _, _, _ in layout.state}
    assert keys == {"step", "exp_avg", "exp_avg_sq"}
    assert layout.size == 3 * layout.weights_size + len(list(model.parameters()))


def test_buffers_travel_and_integer_buffers_stay_integers():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    model(st.randn(5, 4))
    layout = dist.FlatLayout(model)
    flat = layout.flatten(model)
    assert flat.size == 4 * 3 + 3 + 3 + 3 + 3 + 3 + 1
    twin = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    layout.unflatten(flat, twin)
    state, twin_state = model.state_dict(), twin.state_dict()
    for key in state:
        np.testing.assert_array_equal(twin_state[key].numpy(), state[key].numpy())
    assert twin_state["1.num_batches_tracked"].dtype == np.int64 and int(twin_state["1.num_batches_tracked"]) == 1


def test_gradients_round_trip():
    model = mlp()
    F.cross_entropy(model(st.randn(4, 64)), st.tensor([1, 2, 3, 4])).backward()
    layout = dist.FlatLayout(model)
    flat = layout.flatten_grads(model)
    twin = mlp(seed=5)
    layout.set_grads(flat, twin)
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_mismatched_model_is_refused():
    layout = dist.FlatLayout(mlp(hidden=8))
    with pytest.raises(ValueError, match="do not match the layout"):
        layout.unflatten(np.zeros(layout.weights_size, np.float32), mlp(hidden=9))
    with pytest.raises(ValueError, match="flat buffer of 3 values"):
        layout.unflatten(np.zeros(3, np.float32), mlp(hidden=8))
