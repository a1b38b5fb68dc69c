"""Mixed precision against PyTorch's CPU autocast and GradScaler; float32 master weights; strict dtypes."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from sparktensor.amp.autocast_mode import round_to_bfloat16

PAIRS = [(st.float16, torch.float16), (st.bfloat16, torch.bfloat16)]


def _leaf(a):
    return st.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _f32(t):
    return t.detach().float().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.numpy(), np.float32)


@pytest.mark.parametrize("ours,theirs", PAIRS)
def test_linear_and_cross_entropy_match_pytorch_autocast(ours, theirs, rng):
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((16, 7), (4, 7), (4,)))
    y = rng.integers(0, 4, 16)
    (sx, tx), (sw, tw), (sb, tb) = _leaf(x), _leaf(w), _leaf(b)
    with st.autocast("cpu", dtype=ours):
        out = F.linear(sx, sw, sb)
        loss = F.cross_entropy(out, st.tensor(y))
    with torch.autocast("cpu", dtype=theirs):
        tout = torch.nn.functional.linear(tx, tw, tb)
        tloss = torch.nn.functional.cross_entropy(tout, torch.tensor(y))
    loss.backward()
    tloss.backward()
    assert str(tout.dtype).endswith(str(out.dtype)) or ours is st.bfloat16
    assert loss.dtype == np.float32 and tloss.dtype == torch.float32
    np.testing.assert_allclose(_f32(out), _f32(tout), rtol=0, atol=1e-6)
    np.testing.assert_allclose(float(loss.item()), tloss.item(), rtol=1e-6)
    for s, t in ((sx, tx), (sw, tw), (sb, tb)):
        assert s.grad.dtype == np.float32  # master weights stay float32, so do their gradients
        np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("ours,theirs", PAIRS)
def test_conv_matmul_and_bmm_match_pytorch_autocast(ours, theirs, rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    a = rng.standard_normal((2, 4, 6)).astype(np.float32)
    c = rng.standard_normal((2, 6, 3)).astype(np.float32)
    with st.autocast("cpu", dtype=ours):
        ours_out = [st.nn.Conv2d(3, 5, 3, bias=False)._conv_forward(st.tensor(x), st.tensor(w))
                    if hasattr(st.nn.Conv2d, "_conv_forward") else F.conv2d(st.tensor(x), st.tensor(w)),
                    st.tensor(a) @ st.tensor(c), st.bmm(st.tensor(a), st.tensor(c))]
    with torch.autocast("cpu", dtype=theirs):
        torch_out = [torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w)),
                     torch.tensor(a) @ torch.tensor(c), torch.bmm(torch.tensor(a), torch.tensor(c))]
    for s, t in zip(ours_out, torch_out):
        assert t.dtype == theirs
        # each output is the low-precision rounding of a float32 sum; the sums' orders may differ by one rounding
        np.testing.assert_allclose(_f32(s), _f32(t), rtol=2 ** -7 if ours is st.bfloat16 else 2 ** -10, atol=1e-5)
        np.testing.assert_array_equal(_f32(s), _rounded_like(ours, _f32(s)))


def _rounded_like(dtype, values):
    if dtype is st.bfloat16:
        return torch.tensor(values).to(torch.bfloat16).float().numpy()
    return values.astype(np.float16).astype(np.float32)


def test_bfloat16_rounding_equals_pytorch(rng):
    values = np.concatenate([rng.standard_normal(10000).astype(np.float32) * 10.0 ** rng.integers(-30, 30, 10000),
                             np.array([0.0, -0.0, np.inf, -np.inf, 3.4e38, -3.4e38, 1e-40, 1.00390625,
                                       1.01171875], np.float32)])
    expected = torch.tensor(values).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(round_to_bfloat16(values), expected)
    assert np.isnan(round_to_bfloat16(np.array([np.nan], np.float32))).all()


def test_autocast_leaves_float64_and_other_ops_alone_and_can_be_turned_off(rng):
    x64 = st.tensor(rng.standard_normal((3, 3)))
    x32 = st.tensor(rng.standard_normal((3, 3)).astype(np.float32))
    with st.autocast("cpu", dtype=st.float16):
        assert (x64 @ x64).dtype == np.float64  # PyTorch does not cast float64 either
        assert st.exp(x32).dtype == np.float32
        assert st.is_autocast_enabled() if hasattr(st, "is_autocast_enabled") else st.amp.is_autocast_enabled()
        with st.autocast("cpu", enabled=False):
            assert (x32 @ x32).dtype == np.float32
        assert (x32 @ x32).dtype == np.float16
    assert (x32 @ x32).dtype == np.float32 and not st.amp.is_autocast_enabled()

    @st.autocast("cpu", dtype=st.float16)
    def product(a):
        return a @ a
    assert product(x32).dtype == np.float16
    with pytest.raises(TypeError, match="float16 or bfloat16"):
        st.autocast("cpu", dtype=st.float32)
    with pytest.raises(ValueError, match="device_type"):
        st.autocast("tpu")


def test_autocast_float16_losses_run_in_float32(rng):
    x16 = st.tensor(rng.standard_normal((4, 3)).astype(np.float16))
    with st.autocast("cpu", dtype=st.float16):
        assert F.mse_loss(x16, x16 * 0.5).dtype == np.float32
    assert F.mse_loss(x16, x16 * 0.5).dtype == np.float16


def test_adam_on_a_float16_model_keeps_float32_master_weights(rng):
    w0 = rng.standard_normal((6,)).astype(np.float16)
    grads = [np.abs(rng.standard_normal(6)).astype(np.float16) * np.float16(1e-3) for _ in range(20)]
    grads[3][:] = 0  # zero gradients: 0 / (0 + eps) where eps is 0 in float16 gave NaN
    p = st.nn.Parameter(st.tensor(w0))
    opt = st.optim.Adam([p], lr=2e-4)
    tp = torch.nn.Parameter(torch.tensor(w0.astype(np.float32)))
    topt = torch.optim.Adam([tp], lr=2e-4)
    for g in grads:
        p.grad = st.tensor(g)
        opt.step()
        tp.grad = torch.tensor(g.astype(np.float32))
        topt.step()
        assert p.dtype == np.float16
        np.testing.assert_array_equal(p.numpy(), tp.detach().numpy().astype(np.float16))
    # updates of 2e-4 are below float16's spacing near 1: without the master copy the weights would not move
    big = np.argmax(np.abs(w0))
    assert np.float16(w0[big] - np.float16(2e-4)) == w0[big]  # one step alone is lost in float16 ...
    assert p.numpy()[big] != w0[big]  # ... twenty accumulate in the master copy
    assert np.isfinite(p.numpy()).all()


def test_master_copy_follows_weights_loaded_from_outside(rng):
    p = st.nn.Parameter(st.tensor(np.ones(3, np.float16)))
    opt = st.optim.SGD([p], lr=1e-5)
    p.grad = st.tensor(np.ones(3, np.float16))
    opt.step()
    with st.no_grad():
        p.copy_(st.tensor(np.full(3, 5, np.float16)))
    opt.step()
    np.testing.assert_array_equal(p.numpy(), np.float16(np.float32(5) - np.float32(1e-5)))


def _scaler_run(lib, w0, batches, **kwargs):
    if lib is torch:
        p = torch.nn.Parameter(torch.tensor(w0))
        opt, scaler = torch.optim.SGD([p], lr=0.1), torch.amp.GradScaler("cpu", **kwargs)
    else:
        p = st.nn.Parameter(st.tensor(w0))
        opt, scaler = st.optim.SGD([p], lr=0.1), st.amp.GradScaler("cpu", **kwargs)
    scales = []
    for x in batches:
        opt.zero_grad()
        loss = (p * lib.tensor(x)).sum()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return p.detach().numpy(), scales, scaler.state_dict()


def test_grad_scaler_matches_pytorch_step_for_step(rng):
    w0 = rng.standard_normal(4).astype(np.float32)
    batches = [rng.standard_normal(4).astype(np.float32) for _ in range(12)]
    batches[2][1] = np.inf  # a step with an infinite gradient: skipped, the scale backs off
    batches[7][0] = np.nan
    kwargs = dict(init_scale=2.0 ** 10, growth_factor=4.0, backoff_factor=0.25, growth_interval=3)
    ours, theirs = _scaler_run(st, w0, batches, **kwargs), _scaler_run(torch, w0, batches, **kwargs)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)  # the same steps skipped, the same updates
    assert ours[1] == theirs[1] and min(ours[1]) < ours[1][-1]  # backed off and grew again
    assert ours[2] == {k: (v if not isinstance(v, torch.Tensor) else v.item()) for k, v in theirs[2].items()}


def test_grad_scaler_state_dict_loads_pytorchs_and_checks_its_calls(rng):
    theirs = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=5)
    scaler = st.amp.GradScaler()
    scaler.load_state_dict(theirs.state_dict())
    assert scaler.get_scale() == 8.0 and scaler.get_growth_interval() == 5
    p = st.nn.Parameter(st.ones(2))
    opt = st.optim.SGD([p], lr=1.0)
    scaler.scale((p * 3).sum()).backward()
    np.testing.assert_array_equal(p.grad.numpy(), [24, 24])
    scaler.unscale_(opt)
    np.testing.assert_array_equal(p.grad.numpy(), [3, 3])
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.step(opt)
    scaler.update()
    off = st.amp.GradScaler(enabled=False)
    loss = (p * 2).sum()
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}


def test_a_float16_model_trains_with_autocast_scaler_and_adam(rng):
    st.manual_seed(0)
    model = st.nn.Sequential(st.nn.Linear(5, 8), st.nn.ReLU(), st.nn.Linear(8, 2)).to(st.float16)
    opt = st.optim.Adam(model.parameters(), lr=1e-2)
    scaler = st.amp.GradScaler(init_scale=2.0 ** 8)
    x = st.tensor(rng.standard_normal((64, 5)).astype(np.float16))
    y = st.tensor((x.numpy()[:, 0] + x.numpy()[:, 1] > 0).astype(np.int64))
    losses = []
    for _ in range(30):
        opt.zero_grad()
        with st.autocast("cpu", dtype=st.float16):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        assert all(p.grad.dtype == np.float32 for p in model.parameters())  # unscaled in float32
        scaler.step(opt)
        scaler.update()
        losses.append(float(loss.item()))
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0] and loss.dtype == np.float32
    assert all(p.dtype == np.float16 for p in model.parameters())


def test_strict_dtypes_raises_on_mixed_floats_and_default_promotes(rng):
    x32 = st.tensor(rng.standard_normal(3).astype(np.float32))
    x64 = st.tensor(rng.standard_normal(3))
    assert (x32 + x64).dtype == np.float64  # NumPy's promotion, documented in semantics.md
    with st.strict_dtypes():
        assert st.is_strict_dtypes()
        assert (x32 * 0.5 + 1).dtype == np.float32  # Python numbers never count
        with pytest.raises(TypeError, match="float32 and float64"):
            x32 + x64
        with pytest.raises(TypeError, match="float64 and float32"):
            x64 @ x32
        with pytest.raises(TypeError, match="strict_dtypes"):
            x32 * np.float64(2.0)
        model = st.nn.Sequential(st.nn.Linear(3, 4), st.nn.LayerNorm(4), st.nn.Tanh(), st.nn.Linear(4, 2))
        F.cross_entropy(model(st.randn(5, 3)), st.tensor([0, 1, 0, 1, 1])).backward()  # a float32 model passes
    assert not st.is_strict_dtypes()
    st.set_strict_dtypes(True)
    try:
        with pytest.raises(TypeError):
            x32 - x64
    finally:
        st.set_strict_dtypes(False)


def test_lstm_runs_in_bfloat16_as_pytorchs_and_gru_stays_float32(rng):
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    st.manual_seed(0)
    lstm, gru = st.nn.LSTM(4, 5, batch_first=True), st.nn.GRU(4, 5, batch_first=True)
    theirs = torch.nn.LSTM(4, 5, batch_first=True)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in lstm.state_dict().items()})
    with st.autocast("cpu", dtype=st.bfloat16):
        y, (h, c) = lstm(st.tensor(x))
        assert gru(st.tensor(x))[0].dtype == np.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ty, (th, tc) = theirs(torch.tensor(x))
    assert ty.dtype == torch.bfloat16
    for s, t in ((y, ty), (h, th), (c, tc)):
        np.testing.assert_array_equal(_f32(s), round_to_bfloat16(_f32(s)))  # bfloat16 values
        np.testing.assert_allclose(_f32(s), _f32(t), rtol=0, atol=2 ** -7)  # a rounding or two apart
    with st.autocast("cpu", dtype=st.float16):
        assert lstm(st.tensor(x))[0].dtype == np.float16


@pytest.mark.parametrize("dtype", [st.float16, st.bfloat16])
def test_autocast_and_grad_scaler_on_every_backend(device, dtype, rng):
    x = st.tensor(rng.standard_normal((5, 4)).astype(np.float32), device=device)
    model = st.nn.Linear(4, 3).to(device)
    opt = st.optim.Adam(model.parameters(), lr=1e-3)
    scaler = st.amp.GradScaler()
    with st.autocast(device.split(":")[0], dtype=dtype):
        out = model(x)
        loss = F.cross_entropy(out, st.tensor(np.array([0, 1, 2, 0, 1]), device=device))
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    expected = model(x).to("cpu").numpy()  # after the step, in float32
    assert out.device == x.device and np.isfinite(expected).all()
    values = out.to("cpu").numpy().astype(np.float32)
    np.testing.assert_array_equal(values, round_to_bfloat16(values) if dtype is st.bfloat16
                                  else values.astype(np.float16).astype(np.float32))
