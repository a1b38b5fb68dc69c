"""LinearLR, SequentialLR, OneCycleLR and ReduceLROnPlateau, step by step against PyTorch, bit for bit."""
import copy

import pytest
import torch

import sparktensor as st
from sparktensor import optim
from sparktensor.optim import lr_scheduler


def optimizer_pair(name="SGD", **options):
    """The same two-group optimizer in sparktensor and in torch (the second group has its own lr)."""
    x, tx = st.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    y, ty = st.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt = getattr(optim, name)([{"params": [x]}, {"params": [y], "lr": 0.05}], lr=0.1, **options)
    topt = getattr(torch.optim, name)([{"params": [tx]}, {"params": [ty], "lr": 0.05}], lr=0.1, **options)
    return opt, topt


def lr_sequence(opt, schedule, steps, metrics=None):
    """``get_last_lr()`` after construction and after each of ``steps`` steps (given ``metrics`` for a plateau)."""
    lrs = [schedule.get_last_lr()]
    for k in range(steps):
        opt.step()
        schedule.step() if metrics is None else schedule.step(metrics[k])
        lrs.append(schedule.get_last_lr())
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return lrs


def assert_same_bits(lrs, expected):
    assert [[float(lr) for lr in step] for step in lrs] == [[float(lr) for lr in step] for step in expected]
    assert [[float(lr).hex() for lr in step] for step in lrs] == [[float(lr).hex() for lr in step] for step in expected]


# ----- LinearLR -----

LINEAR = [dict(), dict(start_factor=0.05, total_iters=8), dict(start_factor=1.0, end_factor=0.1, total_iters=7),
          dict(start_factor=0.3, end_factor=0.0, total_iters=4)]


@pytest.mark.parametrize("last_epoch", [-1, 3], ids=["fresh", "resumed"])
@pytest.mark.parametrize("options", LINEAR, ids=[str(i) for i in range(len(LINEAR))])
def test_linear_lr_matches_pytorch(options, last_epoch):
    opt, topt = optimizer_pair()
    if last_epoch >= 0:
        for group in opt.param_groups + topt.param_groups:
            group["initial_lr"] = group["lr"] * 2
    schedule = lr_scheduler.LinearLR(opt, last_epoch=last_epoch, **options)
    tschedule = torch.optim.lr_scheduler.LinearLR(topt, last_epoch=last_epoch, **options)
    assert_same_bits(lr_sequence(opt, schedule, 15), lr_sequence(topt, tschedule, 15))
    assert schedule.last_epoch == tschedule.last_epoch


def test_linear_lr_chained_with_another_schedule_matches_pytorch():
    opt, topt = optimizer_pair()
    ours = [lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=5), lr_scheduler.ExponentialLR(opt, 0.9)]
    theirs = [torch.optim.lr_scheduler.LinearLR(topt, start_factor=0.2, total_iters=5),
              torch.optim.lr_scheduler.ExponentialLR(topt, 0.9)]
    lrs, expected = [], []
    for _ in range(12):
        for o, schedules, out in ((opt, ours, lrs), (topt, theirs, expected)):
            o.step()
            for s in schedules:
                s.step()
            out.append([g["lr"] for g in o.param_groups])
    assert_same_bits(lrs, expected)


def test_linear_lr_state_dict_resumes_the_sequence():
    def make():
        opt, _ = optimizer_pair()
        return opt, lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=0.9, total_iters=9)

    opt, schedule = make()
    expected = lr_sequence(opt, schedule, 14)
    opt, schedule = make()
    lr_sequence(opt, schedule, 6)
    saved_opt, saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(schedule.state_dict())
    opt2, schedule2 = make()
    opt2.load_state_dict(saved_opt)
    schedule2.load_state_dict(saved)
    assert lr_sequence(opt2, schedule2, 8) == expected[6:]


def test_linear_lr_refuses_bad_factors():
    opt, _ = optimizer_pair()
    with pytest.raises(ValueError, match="start_factor"):
        lr_scheduler.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="end_factor"):
        lr_scheduler.LinearLR(opt, end_factor=1.5)


# ----- SequentialLR -----

SEQUENCES = {
    "warmup-cosine": lambda lib, opt: lib.SequentialLR(
        opt, [lib.LinearLR(opt, start_factor=0.1, total_iters=4), lib.CosineAnnealingLR(opt, T_max=8, eta_min=0.001)],
        milestones=[4]),
    "exponential-linear": lambda lib, opt: lib.SequentialLR(
        opt, [lib.ExponentialLR(opt, 0.8), lib.LinearLR(opt, start_factor=0.5, end_factor=0.2, total_iters=6)],
        milestones=[5]),
    "three": lambda lib, opt: lib.SequentialLR(
        opt, [lib.StepLR(opt, 2, 0.5), lib.MultiStepLR(opt, [1, 3, 3], 0.3), lib.LambdaLR(opt, lambda e: 0.9 ** e)],
        milestones=[3, 9]),
    "nested": lambda lib, opt: lib.SequentialLR(
        opt, [lib.SequentialLR(opt, [lib.LinearLR(opt, 0.25, total_iters=3), lib.ExponentialLR(opt, 0.7)], [2]),
              lib.CosineAnnealingLR(opt, T_max=5)],
        milestones=[7]),
    "one": lambda lib, opt: lib.SequentialLR(opt, [lib.ExponentialLR(opt, 0.95)], milestones=[]),
}


@pytest.mark.filterwarnings("ignore:Detected call of")  # torch's, for the nested schedule
@pytest.mark.parametrize("name", list(SEQUENCES))
def test_sequential_lr_matches_pytorch(name):
    opt, topt = optimizer_pair()
    schedule = SEQUENCES[name](lr_scheduler, opt)
    tschedule = SEQUENCES[name](torch.optim.lr_scheduler, topt)
    assert_same_bits(lr_sequence(opt, schedule, 20), lr_sequence(topt, tschedule, 20))
    assert schedule.last_epoch == tschedule.last_epoch


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_sequential_lr_state_dict_resumes_the_sequence(name):
    def make():
        opt, _ = optimizer_pair()
        return opt, SEQUENCES[name](lr_scheduler, opt)

    opt, schedule = make()
    expected = lr_sequence(opt, schedule, 16)
    opt, schedule = make()
    lr_sequence(opt, schedule, 6)
    saved_opt, saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(schedule.state_dict())
    assert len(saved["_schedulers"]) == len(schedule._schedulers) and "optimizer" not in saved
    opt2, schedule2 = make()
    opt2.load_state_dict(saved_opt)
    schedule2.load_state_dict(saved)
    assert lr_sequence(opt2, schedule2, 10) == expected[6:]


def test_sequential_lr_refuses_mismatched_arguments():
    opt, _ = optimizer_pair()
    other, _ = optimizer_pair()
    with pytest.raises(ValueError, match="at least one"):
        lr_scheduler.SequentialLR(opt, [], milestones=[])
    with pytest.raises(ValueError, match="one milestone fewer"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.ExponentialLR(opt, 0.9)], milestones=[3])
    with pytest.raises(ValueError, match=r"schedulers\[1\].*another optimizer"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.ExponentialLR(opt, 0.9), lr_scheduler.ExponentialLR(other, 0.9)],
                                  milestones=[3])
    with pytest.raises(TypeError, match=r"schedulers\[0\]"):
        lr_scheduler.SequentialLR(opt, [object()], milestones=[])


# ----- OneCycleLR -----

ONE_CYCLE = [
    ("SGD", dict(momentum=0.9), dict(max_lr=1.0, total_steps=25)),
    ("SGD", dict(momentum=0.9), dict(max_lr=[0.4, 2.0], epochs=4, steps_per_epoch=6, anneal_strategy="linear")),
    ("SGD", dict(momentum=0.9), dict(max_lr=0.5, total_steps=30, three_phase=True, pct_start=0.25)),
    ("SGD", dict(momentum=0.9), dict(max_lr=0.5, total_steps=21, three_phase=True, anneal_strategy="linear",
                                     base_momentum=[0.8, 0.7], max_momentum=(0.99, 0.9), div_factor=10.0,
                                     final_div_factor=100.0)),
    ("SGD", dict(), dict(max_lr=0.3, total_steps=17, cycle_momentum=False, pct_start=0.5)),
    ("Adam", dict(betas=(0.9, 0.99)), dict(max_lr=0.01, total_steps=23)),
    ("AdamW", dict(), dict(max_lr=[0.01, 0.02], total_steps=19, three_phase=True, base_momentum=0.6)),
    ("RMSprop", dict(momentum=0.5), dict(max_lr=0.05, total_steps=13, anneal_strategy="linear", pct_start=0.0)),
]
ONE_CYCLE_IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(ONE_CYCLE)]


def momenta(opt):
    return [g["betas"] if "betas" in g else g["momentum"] for g in opt.param_groups]


@pytest.mark.parametrize("name, opt_options, options", ONE_CYCLE, ids=ONE_CYCLE_IDS)
def test_one_cycle_lr_matches_pytorch_lrs_and_momenta(name, opt_options, options):
    opt, topt = optimizer_pair(name, **opt_options)
    schedule = lr_scheduler.OneCycleLR(opt, **options)
    tschedule = torch.optim.lr_scheduler.OneCycleLR(topt, **options)
    steps = schedule.total_steps - 1
    lrs, ms, expected, tms = [schedule.get_last_lr()], [momenta(opt)], [tschedule.get_last_lr()], [momenta(topt)]
    for _ in range(steps):
        for o, s, out, mout in ((opt, schedule, lrs, ms), (topt, tschedule, expected, tms)):
            o.step()
            s.step()
            out.append(s.get_last_lr())
            mout.append(momenta(o))
    assert_same_bits(lrs, expected)
    assert ms == tms
    assert len({tuple(lr) for lr in lrs}) > steps // 2
    for key in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
        assert [g.get(key) for g in opt.param_groups] == [g.get(key) for g in topt.param_groups]
    schedule.step()  # the last allowed step, then one too many
    with pytest.raises(ValueError, match="beyond its total_steps"):
        schedule.step()


def test_one_cycle_lr_resumed_with_last_epoch_matches_pytorch():
    """A schedule made with ``last_epoch`` keeps the groups' initial_lr, max_lr, min_lr and momenta."""
    options = dict(max_lr=[0.2, 0.6], total_steps=24, anneal_strategy="linear", three_phase=True)
    opt, topt = optimizer_pair("SGD", momentum=0.9)
    lr_sequence(opt, lr_scheduler.OneCycleLR(opt, **options), 9)
    lr_sequence(topt, torch.optim.lr_scheduler.OneCycleLR(topt, **options), 9)
    schedule = lr_scheduler.OneCycleLR(opt, last_epoch=9, **dict(options, max_lr=5.0))
    tschedule = torch.optim.lr_scheduler.OneCycleLR(topt, last_epoch=9, **dict(options, max_lr=5.0))
    assert_same_bits(lr_sequence(opt, schedule, 13), lr_sequence(topt, tschedule, 13))
    assert momenta(opt) == momenta(topt)


def test_one_cycle_lr_state_dict_resumes_the_sequence():
    def make():
        opt, _ = optimizer_pair("Adam")
        return opt, lr_scheduler.OneCycleLR(opt, max_lr=[0.01, 0.03], total_steps=20, three_phase=True)

    opt, schedule = make()
    expected = lr_sequence(opt, schedule, 19)
    expected_momenta = momenta(opt)
    opt, schedule = make()
    lr_sequence(opt, schedule, 8)
    saved_opt, saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(schedule.state_dict())
    opt2, schedule2 = make()
    opt2.load_state_dict(saved_opt)
    schedule2.load_state_dict(saved)
    assert lr_sequence(opt2, schedule2, 11) == expected[8:]
    assert momenta(opt2) == expected_momenta


def test_one_cycle_lr_refuses_bad_arguments():
    opt, _ = optimizer_pair()
    with pytest.raises(ValueError, match="total_steps, or epochs and steps_per_epoch"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=3)
    with pytest.raises(ValueError, match="total_steps must be a positive integer"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=0)
    with pytest.raises(ValueError, match="pct_start"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="max_lr has 3 values but the optimizer has 2"):
        lr_scheduler.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=10)
    adagrad = optim.Adagrad([st.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        lr_scheduler.OneCycleLR(adagrad, max_lr=0.1, total_steps=10)


# ----- ReduceLROnPlateau -----

FALLING_THEN_FLAT = [1.0, 0.8, 0.7, 0.69995, 0.7, 0.71, 0.7, 0.72, 0.65, 0.65, 0.66, 0.64999, 0.66, 0.7, 0.8, 0.9,
                     0.64, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
RISING_THEN_FLAT = [-m for m in FALLING_THEN_FLAT]
PLATEAUS = [
    (dict(patience=2), FALLING_THEN_FLAT),
    (dict(patience=0, factor=0.5), FALLING_THEN_FLAT),
    (dict(patience=1, factor=0.5, cooldown=3, threshold=0.01), FALLING_THEN_FLAT),
    (dict(patience=1, threshold_mode="abs", threshold=0.02, factor=0.3), FALLING_THEN_FLAT),
    (dict(mode="max", patience=1, factor=0.5), RISING_THEN_FLAT),
    (dict(mode="max", patience=2, threshold_mode="abs", threshold=0.001, cooldown=1), RISING_THEN_FLAT),
    (dict(patience=0, factor=0.5, min_lr=[0.01, 0.02]), FALLING_THEN_FLAT),
    (dict(patience=0, factor=0.9, min_lr=0.004, eps=1e-3), FALLING_THEN_FLAT),
]


@pytest.mark.parametrize("options, metrics", PLATEAUS, ids=[str(i) for i in range(len(PLATEAUS))])
def test_reduce_lr_on_plateau_matches_pytorch(options, metrics):
    opt, topt = optimizer_pair()
    schedule = lr_scheduler.ReduceLROnPlateau(opt, **options)
    tschedule = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **options)
    lrs = lr_sequence(opt, schedule, len(metrics), metrics)
    assert_same_bits(lrs, lr_sequence(topt, tschedule, len(metrics), metrics))
    assert len({tuple(lr) for lr in lrs}) > 2  # the lr really falls, more than once
    for key in ("last_epoch", "best", "num_bad_epochs", "cooldown_counter"):
        assert getattr(schedule, key) == getattr(tschedule, key)


def test_reduce_lr_on_plateau_takes_tensors_and_resumes_from_its_state_dict():
    def make():
        opt, _ = optimizer_pair()
        return opt, lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=2)

    metrics = [st.tensor(m) for m in FALLING_THEN_FLAT]
    opt, schedule = make()
    expected = lr_sequence(opt, schedule, len(metrics), metrics)
    opt, schedule = make()
    lr_sequence(opt, schedule, 9, metrics)
    saved_opt, saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(schedule.state_dict())
    assert saved["best"] == pytest.approx(0.65) and "optimizer" not in saved
    opt2, schedule2 = make()
    opt2.load_state_dict(saved_opt)
    schedule2.load_state_dict(saved)
    assert lr_sequence(opt2, schedule2, len(metrics) - 9, metrics[9:]) == expected[9:]


def test_reduce_lr_on_plateau_refuses_bad_arguments():
    opt, _ = optimizer_pair()
    with pytest.raises(ValueError, match="factor must be < 1"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode must be"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(ValueError, match="threshold_mode"):
        lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(ValueError, match="min_lr has 3 values"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.ReduceLROnPlateau(opt)], milestones=[])
    schedule = lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=[0.0, 0.0])
    opt.add_param_group({"params": [st.zeros(1, requires_grad=True)]})
    schedule.step(1.0)
    with pytest.raises(RuntimeError, match="extend the min_lrs"):
        schedule.step(2.0)
