"""Timing two libraries side by side in one process: interleaved rounds, the order flipped every round.

A round times a block of calls of each side and keeps the block's median; flipping the order every round lets
the machine's drift (other jobs, frequency changes) favour neither side. A ratio is then the median, min and max
of the rounds' ratios, never a division of two medians measured at different times.

``BENCH_ROUNDS`` (default 5) sets the rounds of the benches that use ``ROUNDS``; ``BENCH_CALLS``, when set,
overrides every bench's calls per block (small values make quick check runs).
"""
import os
import statistics
import time
from typing import NamedTuple

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))


def calls_per_block(default):
    """The calls per block of a bench: ``BENCH_CALLS`` when set, else the bench's ``default``."""
    return int(os.environ.get("BENCH_CALLS", default))


def median_seconds(call, calls, setup=None, warmup=1):
    """Median seconds of ``calls`` calls of ``call`` after ``warmup`` untimed ones; ``setup()`` gives its args untimed."""
    times = []
    for i in range(warmup + calls):
        args = setup() if setup is not None else ()
        start = time.perf_counter()
        call(*args)
        elapsed = time.perf_counter() - start
        if i >= warmup:
            times.append(elapsed)
    return statistics.median(times)


def interleaved(sides, rounds=ROUNDS):
    """``{name: [seconds per round]}`` of ``sides`` (``{name: () -> seconds}``), the order flipped every round."""
    if rounds < 1:
        raise ValueError(f"interleaved needs at least one round, got rounds={rounds}")
    found = {name: [] for name in sides}
    order = list(sides.items())
    for r in range(rounds):
        for name, measure in (order if r % 2 == 0 else order[::-1]):
            found[name].append(measure())
    return found


class Ratio(NamedTuple):
    """Median, min and max of per-round time ratios; prints as ``median (min-max)``."""
    median: float
    low: float
    high: float

    def __str__(self):
        return f"{self.median:.2f} ({self.low:.2f}-{self.high:.2f})"


def ratio_summary(ours, reference):
    """The ``Ratio`` of the rounds' ``ours[i] / reference[i]`` (two lists of seconds from one ``interleaved`` run)."""
    if len(ours) != len(reference) or not ours:
        raise ValueError(f"ratio_summary needs two equally long, non-empty lists of rounds, got {len(ours)} and "
                         f"{len(reference)}")
    ratios = [a / b for a, b in zip(ours, reference)]
    return Ratio(statistics.median(ratios), min(ratios), max(ratios))


def same_threads():
    """Assert that NumPy's BLAS and PyTorch run on the same number of threads (a fair comparison needs it)."""
    import torch
    from threadpoolctl import threadpool_info
    blas = {info["internal_api"]: info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}
    assert set(blas.values()) == {torch.get_num_threads()}, f"NumPy's BLAS threads {blas}, PyTorch's " \
        f"{torch.get_num_threads()}: the comparison needs the same thread count"
