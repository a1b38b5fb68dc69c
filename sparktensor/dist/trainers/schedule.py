"""A learning-rate schedule on the driver of a data-parallel trainer: stepped per round, or per local step."""
_STEPS = ("round", "step")


def _is_plateau(scheduler):
    return type(scheduler).__name__ == "ReduceLROnPlateau"


def check_scheduler(scheduler, optimizer, scheduler_step):
    """Raise, naming the problem, unless ``scheduler`` (or None) schedules ``optimizer`` every ``scheduler_step``."""
    if scheduler_step not in _STEPS:
        raise ValueError(f"scheduler_step must be one of {_STEPS}, got {scheduler_step!r}")
    if scheduler is None:
        return
    if not hasattr(scheduler, "step") or not hasattr(scheduler, "state_dict"):
        raise TypeError(f"scheduler must be a learning-rate schedule (optim.lr_scheduler), got "
                        f"{type(scheduler).__name__}")
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError("the scheduler schedules another optimizer; build it on the trainer's optimizer")
    if _is_plateau(scheduler) and scheduler_step == "step":
        raise ValueError("ReduceLROnPlateau needs a metric, which a local step does not have; use "
                         "scheduler_step='round' (it gets each round's eval_loss, else its loss)")


def step_after_round(scheduler, record):
    """Step the schedule once for a finished round; ``ReduceLROnPlateau`` with the round's evaluation loss, or its
    training loss when the round had no evaluation."""
    if scheduler is None:
        return
    if _is_plateau(scheduler):
        scheduler.step(record["eval_loss"] if record.get("eval_loss") is not None else record["loss"])
    else:
        scheduler.step()


def hyperparameters(optimizer):
    """The optimizer's hyperparameters per group, as plain values."""
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def check_gang_scheduler(scheduler, optimizer, scheduler_step):
    """``check_scheduler``, and no ``ReduceLROnPlateau``: a gang's schedule is drawn before it starts."""
    check_scheduler(scheduler, optimizer, scheduler_step)
    if scheduler is not None and _is_plateau(scheduler):
        raise ValueError("HybridTrainer cannot take ReduceLROnPlateau: its ranks would need the metric before the "
                         "gang starts; use a schedule of fixed steps, or ParameterAveraging/SynchronousSGD")


def gang_schedule(scheduler, scheduler_step, rounds, tau):
    """For a gang, whose ranks run their own optimizers: the hyperparameters of every step of a fit, drawn from
    the driver's schedule before it starts (the schedule ends where stepping it during training would). The
    table depends on the step only, so ranks resumed from a checkpoint read on where they stopped."""
    if scheduler is None:
        return None
    if scheduler_step == "step":
        return steps_ahead(scheduler, rounds * tau, hyperparameters)
    return [groups for groups in steps_ahead(scheduler, rounds, hyperparameters) for _ in range(tau)]


def steps_ahead(scheduler, steps, groups):
    """The hyperparameters of each of the next ``steps`` local steps (``groups(optimizer)`` before each), stepping
    the schedule past them: the driver ends where every worker's schedule would after the round."""
    ahead = []
    for _ in range(steps):
        ahead.append(groups(scheduler.optimizer))
        scheduler.step()
    return ahead
