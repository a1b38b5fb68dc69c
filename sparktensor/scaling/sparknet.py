"""SparkNet's model of the speed-up of parameter averaging (Moritz et al., ICLR 2016; docs/algorithms.md).

With C the time of one local step, S the communication of one round and tau local steps per round, K workers
whose K tau steps of a round are worth K tau serial steps (the best case) train
K tau C / (tau C + S) times faster than one worker stepping alone without communicating.
"""
import math


def sparknet_speedup(workers, tau, compute_per_step, communication_per_round):
    """The best-case speed-up of ``workers`` averaging every ``tau`` steps over one worker training alone."""
    step_time = tau * compute_per_step
    if step_time + communication_per_round <= 0:
        raise ValueError(f"the round takes no time (tau {tau}, C {compute_per_step}, S {communication_per_round}): "
                         "nothing to project from")
    return workers * step_time / (step_time + communication_per_round)


def communication_at(workers, measured, measured_workers):
    """S at ``workers`` from S ``measured`` at ``measured_workers``: broadcast and aggregation are trees, one
    more level per doubling of K (as bench/test_tau_sweep.py assumes)."""
    return measured * max(1.0, math.log2(workers)) / max(1.0, math.log2(measured_workers))


def projection(tau, compute_per_step, communication_per_round, measured_workers, workers):
    """``{K: speed-up}`` for each K in ``workers``, from C and S measured at ``measured_workers``."""
    return {k: sparknet_speedup(k, tau, compute_per_step,
                                communication_at(k, communication_per_round, measured_workers))
            for k in workers}
