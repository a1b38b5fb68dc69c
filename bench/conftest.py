"""Benchmark set-up: one thread count for NumPy's BLAS and PyTorch, and a ratio table at the end.

A comparison bench times both sides interleaved in rounds (``bench/interleave.py``) and calls
``record(case, reference_name, ours_rounds, reference_rounds)``; the table shows the median (min-max) of the
rounds' ratios. Benches that still time each side in its own pytest-benchmark block call
``record(benchmark, case, role)``; their rows divide two medians taken at different times and say so.
"""
import os
import statistics
from collections import defaultdict

import pytest

from interleave import ratio_summary

# the scaling fixture (also loaded by the pytest11 entry point once sparktensor[bench] is installed)
pytest_plugins = ["sparktensor.scaling.plugin"]

THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
_medians = defaultdict(dict)  # separately timed: case -> role -> median seconds
_interleaved = []  # (case, reference name, our rounds, reference rounds)


def pytest_configure(config):
    import numpy  # noqa: F401  (loads NumPy's BLAS now: threadpool_limits reaches only libraries already loaded)
    from threadpoolctl import threadpool_limits
    threadpool_limits(THREADS)
    import sparktensor
    sparktensor.set_num_threads(THREADS)  # its intra-op pool, like torch.set_num_threads below
    try:
        import torch
        torch.set_num_threads(THREADS)
    except ImportError:
        pass


@pytest.fixture
def record():
    """``record(case, reference_name, ours_rounds, reference_rounds)`` for the ratio table (interleaved rounds).

    The older form ``record(benchmark, case, role)`` keeps one separately timed median instead.
    """
    def keep(*args):
        if len(args) == 4:
            case, reference_name, ours, reference = args
            ratio_summary(ours, reference)  # checks the rounds pair up
            _interleaved.append((case, reference_name, list(ours), list(reference)))
        else:
            benchmark, case, role = args
            _medians[case][role] = benchmark.stats.stats.median
    return keep


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    if _interleaved:
        write("")
        write(f"sparktensor time / reference time, both interleaved in rounds in one process: median (min-max) of "
              f"the rounds' ratios; {THREADS} thread(s) for BLAS and PyTorch")
        write("| case | sparktensor | reference | reference time | ratio | rounds |")
        write("|---|---|---|---|---|---|")
        for case, name, ours, reference in _interleaved:
            write(f"| {case} | {statistics.median(ours) * 1e3:.3f} ms | {name} | "
                  f"{statistics.median(reference) * 1e3:.3f} ms | {ratio_summary(ours, reference)} | {len(ours)} |")
    separate = [(case, roles) for case, roles in _medians.items() if "sparktensor" in roles and len(roles) > 1]
    if separate:
        write("")
        write(f"sparktensor time / reference time, each side timed in its own block (median over median; machine "
              f"drift between the blocks lands in the ratio); {THREADS} thread(s)")
        write("| case | sparktensor | reference | reference time | ratio |")
        write("|---|---|---|---|---|")
        for case, roles in separate:
            ours = roles["sparktensor"]
            for role, t in roles.items():
                if role != "sparktensor":
                    write(f"| {case} | {ours * 1e3:.3f} ms | {role} | {t * 1e3:.3f} ms | {ours / t:.2f} |")
