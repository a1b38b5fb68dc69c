"""Benchmark set-up: one thread count for NumPy's BLAS and PyTorch, and a ratio table at the end.

Each benchmark records its median under a case name and a role (``sparktensor``,
``torch``, ``numpy``); the summary divides sparktensor's time by each reference
measured in the same run.
"""
import os
from collections import defaultdict

import pytest

# the scaling fixture (also loaded by the pytest11 entry point once sparktensor[bench] is installed)
pytest_plugins = ["sparktensor.scaling.plugin"]

THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
_medians = defaultdict(dict)


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
    """``record(benchmark, case, role)`` after a benchmark ran: keep its median for the ratio table."""
    def keep(benchmark, case, role):
        _medians[case][role] = benchmark.stats.stats.median
    return keep


def pytest_terminal_summary(terminalreporter):
    if not _medians:
        return
    write = terminalreporter.write_line
    write("")
    write(f"sparktensor time / reference time (median; {THREADS} thread(s) for BLAS and PyTorch)")
    write("| case | sparktensor | reference | reference time | ratio |")
    write("|---|---|---|---|---|")
    for case, roles in _medians.items():
        ours = roles.get("sparktensor")
        for role, t in roles.items():
            if role == "sparktensor" or ours is None:
                continue
            write(f"| {case} | {ours * 1e3:.3f} ms | {role} | {t * 1e3:.3f} ms | {ours / t:.2f} |")
