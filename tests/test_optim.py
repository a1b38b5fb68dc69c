"""Optimizers, learning-rate schedules and gradient clipping, step by step against PyTorch."""
import copy
import math

import numpy as np
import pytest
import torch

import sparktensor as st
from sparktensor import optim
from sparktensor.nn.utils import clip_grad_norm_, clip_grad_value_
from sparktensor.optim import lr_scheduler
from backends import to_numpy

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, betas=(0.3, 0.9))),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
]
CASE_IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in options.items()) for name, options in CASES]
SHAPES = [(3, 4), (5,), (2,)]
DTYPES = [np.float64, np.float32]


def tolerance(dtype):
    return dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-6)


def make_weights(rng, dtype):
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def make_gradients(rng, dtype, steps):
    """One list of gradients per step; the second parameter gets a gradient only on even steps."""
    return [[rng.standard_normal(shape).astype(dtype) if i != 1 or k % 2 == 0 else None
             for i, shape in enumerate(SHAPES)] for k in range(steps)]


def st_params(weights, device):
    return [st.tensor(w, device=device, requires_grad=True) for w in weights]


def torch_params(weights):
    return [torch.tensor(np.array(w), requires_grad=True) for w in weights]


def run_st(opt, params, gradients, device):
    for step_grads in gradients:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else st.tensor(g, device=device)
        opt.step()


def run_torch(opt, params, gradients):
    for step_grads in gradients:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else torch.tensor(g)
        opt.step()


def assert_close_to_torch(params, tparams, dtype):
    for p, tp in zip(params, tparams):
        assert p.dtype == dtype
        np.testing.assert_allclose(to_numpy(p), tp.detach().numpy(), **tolerance(dtype))


def to_torch_state_dict(state_dict):
    """A sparktensor optimizer state dict with its tensors converted for torch."""
    return {"state": {k: {n: torch.tensor(v.numpy()) if isinstance(v, st.Tensor) else v for n, v in s.items()}
                      for k, s in state_dict["state"].items()},
            "param_groups": copy.deepcopy(state_dict["param_groups"])}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name, options", CASES, ids=CASE_IDS)
def test_ten_steps_match_pytorch(device, rng, name, options, dtype):
    weights = make_weights(rng, dtype)
    gradients = make_gradients(rng, dtype, 10)
    params, tparams = st_params(weights, device), torch_params(weights)
    run_st(getattr(optim, name)(params, **options), params, gradients, device)
    run_torch(getattr(torch.optim, name)(tparams, **options), tparams, gradients)
    assert_close_to_torch(params, tparams, dtype)
    assert not np.allclose(to_numpy(params[0]), weights[0])  # the steps moved the weights


@pytest.mark.parametrize("name, options", CASES, ids=CASE_IDS)
def test_large_and_strided_parameters_match_pytorch_and_do_not_depend_on_threads(rng, name, options, monkeypatch):
    # the updates run over cache-sized pieces split across threads; a strided weight is updated whole
    from sparktensor import parallel
    monkeypatch.setattr(parallel, "MIN_SHARED_WORK", 1 << 16)  # split these (smaller) updates too
    before = st.get_num_threads()
    weights = [rng.standard_normal((300, 500)), rng.standard_normal(5), rng.standard_normal((20, 100))]
    gradients = [[rng.standard_normal(w.shape) for w in weights] for _ in range(3)]
    results = []
    try:
        for threads in (1, 2):
            st.set_num_threads(threads)
            params = st_params(weights[:2], "cpu")
            strided = st.tensor(weights[2][:, ::2], requires_grad=True)
            strided.data = weights[2].copy()[:, ::2]  # a weight whose array is a strided view
            assert not strided.data.flags.c_contiguous
            params.append(strided)
            step_grads = [[g[i] if i < 2 else g[i][:, ::2] for i in range(3)] for g in gradients]
            run_st(getattr(optim, name)(params, **options), params, step_grads, "cpu")
            results.append([p.numpy().copy() for p in params])
    finally:
        st.set_num_threads(before)
    tparams = torch_params(weights[:2] + [weights[2][:, ::2]])
    run_torch(getattr(torch.optim, name)(tparams, **options), tparams,
              [[g[0], g[1], g[2][:, ::2]] for g in gradients])
    for one, two, tp in zip(*results, tparams):
        np.testing.assert_array_equal(one, two)
        np.testing.assert_allclose(two, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert not np.allclose(results[1][0], weights[0])


@pytest.mark.parametrize("name, options", CASES, ids=CASE_IDS)
def test_state_dict_round_trip_continues_exactly(device, rng, name, options):
    weights = make_weights(rng, np.float64)
    gradients = make_gradients(rng, np.float64, 10)
    params = st_params(weights, device)
    run_st(getattr(optim, name)(params, **options), params, gradients, device)

    halfway = st_params(weights, device)
    first = getattr(optim, name)(halfway, **options)
    run_st(first, halfway, gradients[:5], device)
    saved = first.state_dict()
    resumed = st_params([to_numpy(p) for p in halfway], device)
    second = getattr(optim, name)(resumed, **{**options, "lr": 123.0})
    second.load_state_dict(saved)
    assert second.param_groups[0]["lr"] == options["lr"]
    run_st(second, resumed, gradients[5:], device)
    for p, q in zip(params, resumed):
        np.testing.assert_array_equal(to_numpy(p), to_numpy(q))


@pytest.mark.parametrize("name, options", CASES, ids=CASE_IDS)
def test_state_dict_loads_into_pytorch_and_back(device, rng, name, options):
    weights = make_weights(rng, np.float64)
    gradients = make_gradients(rng, np.float64, 10)
    params = st_params(weights, device)
    opt = getattr(optim, name)(params, **options)
    run_st(opt, params, gradients[:5], device)

    tparams = torch_params([to_numpy(p) for p in params])
    topt = getattr(torch.optim, name)(tparams, **options)
    saved = opt.state_dict()
    tsaved = to_torch_state_dict(saved)
    topt.load_state_dict(tsaved)
    # the same layout: state keys per parameter, and group indices
    reference = torch_params(weights)
    treference = getattr(torch.optim, name)(reference, **options)
    run_torch(treference, reference, gradients[:5])
    expected = treference.state_dict()
    assert {k: sorted(s) for k, s in saved["state"].items()} == {k: sorted(s) for k, s in expected["state"].items()}
    assert [g["params"] for g in saved["param_groups"]] == [g["params"] for g in expected["param_groups"]]

    run_st(opt, params, gradients[5:], device)
    run_torch(topt, tparams, gradients[5:])
    assert_close_to_torch(params, tparams, np.float64)

    # and back: PyTorch's state dict drives a fresh sparktensor optimizer to the same weights
    back = st_params([p.detach().numpy() for p in reference], device)
    st_opt = getattr(optim, name)(back, **options)
    st_opt.load_state_dict(expected)
    run_st(st_opt, back, gradients[5:], device)
    run_torch(treference, reference, gradients[5:])
    assert_close_to_torch(back, reference, np.float64)


def test_param_groups_with_their_own_options_match_pytorch(device, rng):
    weights = make_weights(rng, np.float64)
    gradients = make_gradients(rng, np.float64, 6)
    params, tparams = st_params(weights, device), torch_params(weights)

    def groups(ps):
        return [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.5, "momentum": 0.0}]
    opt = optim.SGD(groups(params), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(groups(tparams), lr=0.1, momentum=0.9)
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.0
    assert opt.param_groups[1]["dampening"] == 0
    run_st(opt, params, gradients, device)
    run_torch(topt, tparams, gradients)
    assert_close_to_torch(params, tparams, np.float64)


def test_add_param_group_joins_later(device, rng):
    weights = make_weights(rng, np.float64)
    gradients = make_gradients(rng, np.float64, 6)
    params, tparams = st_params(weights, device), torch_params(weights)
    opt, topt = optim.Adam(params[:2], lr=0.01), torch.optim.Adam(tparams[:2], lr=0.01)
    run_st(opt, params, gradients[:3], device)
    run_torch(topt, tparams, gradients[:3])
    np.testing.assert_array_equal(to_numpy(params[2]), weights[2])  # not optimized yet
    opt.add_param_group({"params": params[2], "lr": 0.1})
    topt.add_param_group({"params": tparams[2], "lr": 0.1})
    run_st(opt, params, gradients[3:], device)
    run_torch(topt, tparams, gradients[3:])
    assert_close_to_torch(params, tparams, np.float64)


def test_parameters_without_gradient_are_left_alone(device):
    p = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    q = st.tensor([3.0, 4.0], device=device, requires_grad=True)
    opt = optim.Adam([p, q], lr=0.1)
    p.grad = st.tensor([1.0, 1.0], device=device)
    opt.step()
    np.testing.assert_array_equal(to_numpy(q), [3.0, 4.0])
    assert q not in opt.state and float(opt.state[p]["step"]) == 1.0
    np.testing.assert_allclose(to_numpy(p), [0.9, 1.9], rtol=1e-6)


def test_step_runs_the_closure_with_grad_enabled(device):
    x = st.tensor([1.0, -2.0], device=device, requires_grad=True)
    opt = optim.SGD([x], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss
    with st.no_grad():
        loss = opt.step(closure)
    assert float(loss) == pytest.approx(5.0)
    np.testing.assert_allclose(to_numpy(x), [0.5, -1.0])


def test_step_bumps_the_version_so_stale_graphs_are_caught(device):
    x = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x * x).sum()
    version = x._version[0]
    x.grad = st.tensor([1.0, 1.0], device=device)
    optim.SGD([x], lr=0.1).step()
    assert x._version[0] == version + 1
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_zero_grad(device):
    x = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    opt = optim.SGD([x], lr=0.1)
    x.grad = st.tensor([3.0, 4.0], device=device)
    grad = x.grad
    opt.zero_grad(set_to_none=False)
    assert x.grad is grad
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 0.0])
    opt.zero_grad()
    assert x.grad is None


def test_optimizer_refuses_bad_parameters(device):
    x = st.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(x, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 1 is a ndarray"):
        optim.SGD([x, np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="dtype int64"):
        optim.SGD([st.tensor([1, 2], device=device)], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf"):
        optim.SGD([x * 2], lr=0.1)
    with pytest.raises(ValueError, match="learning rate -0.1"):
        optim.Adam([x], lr=-0.1)
    with pytest.raises(ValueError, match="group 1: invalid learning rate -1"):
        optim.SGD([{"params": [x]}, {"params": [st.ones(1, requires_grad=True)], "lr": -1}], lr=0.1)
    with pytest.raises(ValueError, match="more than one|earlier group"):
        optim.SGD([{"params": [x]}, {"params": [x]}], lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        optim.SGD({x}, lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([x], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([x], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="invalid alpha"):
        optim.RMSprop([x], alpha=-0.5)


def test_load_state_dict_names_the_mismatch(device):
    a, b, c = (st.tensor([float(i)], device=device, requires_grad=True) for i in range(3))
    saved = optim.SGD([{"params": [a]}, {"params": [b, c]}], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="2 parameter group.*this optimizer has 1"):
        optim.SGD([a, b, c], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="parameter group 1 has 2 parameter.*but 1 in this optimizer"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(saved)


def test_loaded_state_is_copied_and_cast_like_the_parameter(device):
    x = st.tensor([1.0, 2.0], dtype=st.float32, device=device, requires_grad=True)
    opt = optim.Adam([x], lr=0.1)
    saved = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2, dtype=torch.float64),
                           "exp_avg_sq": np.ones(2)}},
             "param_groups": [{"lr": 0.5, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                               "amsgrad": False, "params": [0]}]}
    opt.load_state_dict(saved)
    state = opt.state[x]
    assert state["exp_avg"].dtype == st.float32 and state["exp_avg"].device == x.device
    assert state["step"].dtype == st.float32 and state["step"].device == "cpu" and float(state["step"]) == 3.0
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["maximize"] is False
    x.grad = st.ones(2, device=device)
    opt.step()
    np.testing.assert_array_equal(saved["state"][0]["exp_avg_sq"], [1.0, 1.0])  # the saved dict is untouched
    assert float(state["step"]) == 4.0


# ----- learning-rate schedules -----

SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=6)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 1 / (1 + epoch))),
    ("LambdaLR", dict(lr_lambda=[lambda epoch: 0.95 ** epoch, lambda epoch: math.cos(epoch)])),
]
SCHEDULE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)]


def schedule_pair(name, options, last_epoch=-1):
    x, tx = st.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    y, ty = st.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt = optim.SGD([{"params": [x]}, {"params": [y], "lr": 0.05}], lr=0.1)
    topt = torch.optim.SGD([{"params": [tx]}, {"params": [ty], "lr": 0.05}], lr=0.1)
    if last_epoch >= 0:
        for group in opt.param_groups + topt.param_groups:
            group["initial_lr"] = group["lr"] * 2
    schedule = getattr(lr_scheduler, name)(opt, last_epoch=last_epoch, **options)
    tschedule = getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=last_epoch, **options)
    return opt, schedule, topt, tschedule


def lr_sequence(opt, schedule, steps):
    lrs = [schedule.get_last_lr()]
    for _ in range(steps):
        opt.step()
        schedule.step()
        lrs.append(schedule.get_last_lr())
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return lrs


@pytest.mark.parametrize("last_epoch", [-1, 4], ids=["fresh", "resumed"])
@pytest.mark.parametrize("name, options", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_matches_pytorch(name, options, last_epoch):
    opt, schedule, topt, tschedule = schedule_pair(name, options, last_epoch)
    expected = lr_sequence(topt, tschedule, 20)
    lrs = lr_sequence(opt, schedule, 20)
    np.testing.assert_allclose(lrs, expected, rtol=1e-13, atol=1e-15)
    assert len({tuple(lr) for lr in lrs}) > 1  # the schedule really moves
    assert schedule.last_epoch == tschedule.last_epoch == last_epoch + 21
    assert [g["initial_lr"] for g in opt.param_groups] == [g["initial_lr"] for g in topt.param_groups]


@pytest.mark.parametrize("name, options", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_state_dict_resumes_the_sequence(name, options):
    opt, schedule, _, _ = schedule_pair(name, options)
    expected = lr_sequence(opt, schedule, 12)
    opt, schedule, _, _ = schedule_pair(name, options)
    lr_sequence(opt, schedule, 7)
    saved_opt, saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(schedule.state_dict())
    assert saved["last_epoch"] == 7 and "optimizer" not in saved
    opt2, schedule2, _, _ = schedule_pair(name, options)
    opt2.load_state_dict(saved_opt)
    schedule2.load_state_dict(saved)
    assert lr_sequence(opt2, schedule2, 5) == expected[7:]


def test_resuming_a_schedule_needs_initial_lr():
    opt = optim.SGD([st.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(KeyError, match=r"initial_lr.*param_groups\[0\]"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)
    with pytest.raises(TypeError, match="needs an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match="expected 1 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0, lambda e: 2.0])


def test_lambda_schedule_keeps_the_state_of_callable_objects():
    class Warmup:
        def __init__(self):
            self.factor = 1.0

        def __call__(self, epoch):
            return self.factor * epoch

    opt = optim.SGD([st.zeros(1, requires_grad=True)], lr=0.1)
    warmup = Warmup()
    schedule = lr_scheduler.LambdaLR(opt, [warmup])
    warmup.factor = 3.0
    saved = schedule.state_dict()
    assert saved["lr_lambdas"] == [{"factor": 3.0}]
    other = Warmup()
    lr_scheduler.LambdaLR(opt, [other]).load_state_dict(saved)
    assert other.factor == 3.0


# ----- gradient clipping -----

@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0], ids=["clips", "keeps"])
def test_clip_grad_norm_matches_pytorch(device, rng, dtype, norm_type, max_norm):
    weights = make_weights(rng, dtype)
    grads = [rng.standard_normal(w.shape).astype(dtype) for w in weights]
    params, tparams = st_params(weights, device), torch_params(weights)
    for p, tp, g in zip(params, tparams, grads):
        p.grad, tp.grad = st.tensor(g, device=device), torch.tensor(g)
    params[1].grad = tparams[1].grad = None
    total = clip_grad_norm_(params, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    assert isinstance(total, st.Tensor) and total.dtype == dtype and total.shape == ()
    np.testing.assert_allclose(to_numpy(total), expected.numpy(), rtol=1e-6 if dtype == np.float32 else 1e-12)
    for i, (p, tp) in enumerate(zip(params, tparams)):
        if i == 1:
            assert p.grad is None
            continue
        np.testing.assert_allclose(to_numpy(p.grad), tp.grad.numpy(), **tolerance(dtype))
        if max_norm > 1:
            np.testing.assert_array_equal(to_numpy(p.grad), grads[i])


def test_clip_grad_norm_refuses_a_nonfinite_norm_when_asked(device):
    x = st.tensor([1.0, 2.0], device=device, requires_grad=True)
    x.grad = st.tensor([float("nan"), 1.0], device=device)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(x, 1.0, error_if_nonfinite=True)
    assert math.isnan(float(clip_grad_norm_(x, 1.0)))


def test_clip_grad_norm_takes_a_single_tensor_and_no_gradients(device):
    x = st.tensor([3.0, 4.0], device=device, requires_grad=True)
    assert float(clip_grad_norm_([x], 1.0)) == 0.0
    x.grad = st.tensor([3.0, 4.0], device=device)
    assert float(clip_grad_norm_(x, 1.0)) == pytest.approx(5.0)
    np.testing.assert_allclose(to_numpy(x.grad), [0.6, 0.8], rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("clip_value", [0.3, 1, 100.0], ids=["clips", "int", "keeps"])
def test_clip_grad_value_matches_pytorch(device, rng, dtype, clip_value):
    weights = make_weights(rng, dtype)
    grads = [rng.standard_normal(w.shape).astype(dtype) for w in weights]
    grads[0][0, 0] = np.nan
    params, tparams = st_params(weights, device), torch_params(weights)
    for p, tp, g in zip(params, tparams, grads):
        p.grad, tp.grad = st.tensor(g, device=device), torch.tensor(g)
    params[1].grad = tparams[1].grad = None
    version = params[0].grad._version[0]
    assert clip_grad_value_(params, clip_value) is None
    torch.nn.utils.clip_grad_value_(tparams, clip_value)
    assert params[1].grad is None and params[0].grad._version[0] > version
    for p, tp, g in zip(params[::2], tparams[::2], grads[::2]):
        assert p.grad.dtype == dtype
        np.testing.assert_array_equal(to_numpy(p.grad), tp.grad.numpy())  # NaN stays NaN, as in PyTorch
        assert np.nanmax(np.abs(to_numpy(p.grad))) <= clip_value
        if clip_value > 10:
            np.testing.assert_array_equal(to_numpy(p.grad), g)


def test_clip_grad_value_takes_a_single_tensor(device):
    x = st.tensor([-3.0, 0.5, 4.0], device=device, requires_grad=True)
    clip_grad_value_(x, 1.0)  # no gradient yet: nothing to do
    x.grad = st.tensor([-3.0, 0.5, 4.0], device=device)
    clip_grad_value_(x, 1.0, foreach=True)
    np.testing.assert_array_equal(to_numpy(x.grad), [-1.0, 0.5, 1.0])
