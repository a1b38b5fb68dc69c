"""Why the second core gains sparktensor's CPU training step so little: three measurements.

1. ``handoff``: the round trip of an empty job through the intra-op pool (``parallel.run_blocks`` over two
   blocks, one on the calling thread), against the same call with one block. On a virtual machine whose idle cores
   are halted, waking a sleeping thread costs tens of microseconds; PyTorch's OpenMP threads spin instead.
2. ``gemm``: NumPy's float32 products (OpenBLAS) against PyTorch's (MKL) on the shapes of the benchmarked training
   steps, at 1 and 2 threads, interleaved in rounds (median of the rounds' ratios, min-max), with a pause before
   each side's block so that the other library's spinning threads have stopped.
3. ``contention``: the small VGG and the MLP training steps against PyTorch's (interleaved rounds as in
   ``test_step_against_torch.py``), each setting in a fresh process: as shipped; with the convolution's products
   split over the intra-op threads (``_conv_threads.SPLIT_OVER_THREADS``); and split with OpenBLAS held at one
   thread for the whole process. OpenBLAS's idle worker keeps spinning for a while after a threaded product, so
   a split that runs while it spins shares a core with it.

    python bench/thread_pools.py [handoff,gemm,contention] [rounds]
"""
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
#: seconds between the two sides' timings: OpenBLAS's idle worker spins for about 0.1 s after a threaded product
#: (2^28 cycles), and PyTorch's OpenMP threads timed while it spins run at a fraction of their speed
PAUSE = 0.3
GEMM_SHAPES = [  # (m, k, n) of products in the benchmarked steps
    (128, 784, 512), (128, 512, 512), (512, 128, 784),  # the MLP's forward and weight gradients
    (32, 256, 1024), (256, 32, 1024),                   # an LSTM step's recurrent product and its gradient
    (6272, 288, 32), (1568, 576, 64),                   # the VGG's convolutions as products
]


def _best_of(call, calls, repeats=5):
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def handoff():
    import sparktensor as st
    from sparktensor import parallel
    st.set_num_threads(2)
    nothing = lambda start, stop: None  # noqa: E731
    split = _best_of(lambda: parallel.run_blocks(nothing, 2, 1 << 30), 2000)
    alone = _best_of(lambda: parallel.run_blocks(nothing, 1, 1 << 30), 2000)
    print(f"| intra-op pool round trip, 2 blocks | {split * 1e6:.1f} us | one block on the calling thread "
          f"{alone * 1e6:.1f} us |")


def gemm(rounds):
    import threadpoolctl
    import torch
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with threadpoolctl.threadpool_limits(threads, user_api="blas"):
            for m, k, n in GEMM_SHAPES:
                rng = np.random.default_rng(0)
                a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
                out, ta, tb = np.empty((m, n), np.float32), torch.from_numpy(a), torch.from_numpy(b)
                tout = torch.empty(m, n)
                ours, theirs = [], []
                for r in range(rounds):
                    sides = [(ours, lambda: np.matmul(a, b, out=out)), (theirs, lambda: torch.mm(ta, tb, out=tout))]
                    for found, call in (sides if r % 2 == 0 else sides[::-1]):
                        time.sleep(PAUSE)
                        found.append(_best_of(call, 50, 1))
                ratios = [x / y for x, y in zip(ours, theirs)]
                print(f"| ({m}, {k}) @ ({k}, {n}) | {threads} | {statistics.median(ours) * 1e6:.0f} us | "
                      f"{statistics.median(theirs) * 1e6:.0f} us | {statistics.median(ratios):.2f} "
                      f"({min(ratios):.2f}-{max(ratios):.2f}) |", flush=True)


def _contention_case(setting, rounds):
    """One setting of ``contention`` in this (fresh) process: prints a table row per model."""
    import threadpoolctl
    import torch
    import sparktensor as st
    from sparktensor.nn.functional import _conv_threads
    sys.path.insert(0, HERE)
    import test_step_against_torch as steps
    st.set_num_threads(2)
    torch.set_num_threads(2)
    if setting != "as shipped":
        _conv_threads.SPLIT_OVER_THREADS = True
    if setting == "split, OpenBLAS on one thread":
        threadpoolctl.threadpool_limits(1, user_api="blas")
    for name in [n for n in steps.CASES if n.startswith(("small VGG", "MLP"))]:
        ours, theirs = steps.build(st, name), steps.build(torch, name)
        found = {"ours": [], "torch": []}
        for r in range(rounds):
            for side in (["ours", "torch"] if r % 2 == 0 else ["torch", "ours"]):
                found[side].append(steps.median_step_seconds(ours if side == "ours" else theirs, 10))
        ratios = [x / y for x, y in zip(found["ours"], found["torch"])]
        print(f"| {name} | {setting} | {statistics.median(found['ours']) * 1e3:.1f} ms | "
              f"{statistics.median(found['torch']) * 1e3:.1f} ms | {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}-{max(ratios):.2f}) |", flush=True)


def contention(rounds):
    for setting in ("as shipped", "split", "split, OpenBLAS on one thread"):
        subprocess.run([sys.executable, __file__, "_contention_case", setting, str(rounds)], check=True)


def main(argv):
    if argv[:1] == ["_contention_case"]:
        return _contention_case(argv[1], int(argv[2]))
    parts = (argv[0] if argv else "handoff,gemm,contention").split(",")
    rounds = int(argv[1]) if len(argv) > 1 else 4
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    if "handoff" in parts:
        handoff()
    if "gemm" in parts:
        print("| product | threads | NumPy (OpenBLAS) | PyTorch (MKL) | ratio |\n|---|---|---|---|---|")
        gemm(rounds)
    if "contention" in parts:
        print("| step | setting | sparktensor | PyTorch | ratio |\n|---|---|---|---|---|")
        contention(rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
