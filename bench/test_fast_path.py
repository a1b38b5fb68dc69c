"""The first-order fast path against an earlier commit: the elementwise chain and the MLP step, side by side.

Higher-order autodiff (``create_graph``) writes every backward formula once, against the namespace of the
values it is given; on the fast path those are raw arrays, and the time must not move. This bench checks out
``BENCH_BASELINE`` (default: the commit before that rewrite) into a temporary git worktree, starts one warm
subprocess per checkout (each imports its own ``sparktensor``), and interleaves them: round after round, each
times ``REPEATS`` calls of the same case (the fastest of ``BLOCKS`` such blocks), the order flipping every round so that the machine's drift falls on
both alike (with a pause before each, so that the other side's BLAS threads have stopped spinning). The ratio is this tree's fastest round over the baseline's fastest (each round is
already the fastest of its blocks); the median of the per-round ratios is printed beside it.

Run: ``python -m pytest bench/test_fast_path.py -s -q`` (``BENCH_FAST_PATH_ROUNDS`` rounds, default 12).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import pytest

BASELINE = os.environ.get("BENCH_BASELINE", "38eb177")
ROUNDS = int(os.environ.get("BENCH_FAST_PATH_ROUNDS", "12"))
REPEATS = {"elementwise chain 16x16 fwd+bwd": 500, "MLP 784-256-256-10 batch 128 fwd+bwd": 40}
BLOCKS = 5  # each timing is the fastest of this many blocks of REPEATS calls: a block a preemption hit is dropped
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cases():
    """Each case as a zero-argument callable, built from the bench files' own step functions."""
    import numpy as np

    import sparktensor as st
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import test_mlp
    import test_overhead
    x = st.tensor(test_overhead._data(), requires_grad=True)
    ws, bs, features, labels = test_mlp._weights()
    ws = [st.tensor(w, requires_grad=True) for w in ws]
    bs = [st.tensor(b, requires_grad=True) for b in bs]
    features, labels = st.tensor(features), st.tensor(labels)
    assert np.isfinite(float(test_mlp.step(st, ws, bs, features, labels).item()))
    return {"elementwise chain 16x16 fwd+bwd": lambda: test_overhead.chain_sparktensor(x),
            "MLP 784-256-256-10 batch 128 fwd+bwd": lambda: test_mlp.step(st, ws, bs, features, labels)}


def serve():
    """The subprocess: answer ``{"case": name}`` with the seconds of ``REPEATS[name]`` calls (the fastest of
    ``BLOCKS`` blocks), one line each."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
    import sparktensor
    cases = _cases()
    print("@@ready " + json.dumps(sparktensor.__file__), flush=True)
    for line in sys.stdin:
        name = json.loads(line)["case"]
        cases[name]()  # warm
        blocks = []
        for _ in range(BLOCKS):
            start = time.perf_counter()
            for _ in range(REPEATS[name]):
                cases[name]()
            blocks.append(time.perf_counter() - start)
        print("@@result " + json.dumps(min(blocks)), flush=True)


class _Worker:
    """A warm subprocess importing ``sparktensor`` from ``checkout``."""

    def __init__(self, checkout):
        env = dict(os.environ, PYTHONPATH=checkout)
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve"], cwd=checkout,
                                        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.module_file = json.loads(self._answer("@@ready "))
        assert self.module_file.startswith(os.path.realpath(checkout)), (self.module_file, checkout)

    def _answer(self, prefix):
        for line in self.process.stdout:
            if line.startswith(prefix):
                return line[len(prefix):]
        raise RuntimeError(f"the bench worker exited (code {self.process.wait()})")

    def time(self, case):
        time.sleep(0.3)  # the other worker's BLAS threads stop spinning before this one starts
        self.process.stdin.write(json.dumps({"case": case}) + "\n")
        self.process.stdin.flush()
        return json.loads(self._answer("@@result "))

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def workers():
    with tempfile.TemporaryDirectory() as scratch:
        baseline = os.path.join(scratch, "baseline")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", baseline, BASELINE], check=True,
                       capture_output=True)
        # the baseline runs this tree's bench files: only the library differs
        subprocess.run(["cp", "-r", os.path.join(ROOT, "bench"), baseline], check=True)
        try:
            pair = {"this tree": _Worker(ROOT), f"baseline {BASELINE}": _Worker(baseline)}
            yield pair
            for w in pair.values():
                w.close()
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", baseline], capture_output=True)


@pytest.mark.parametrize("case", list(REPEATS))
def test_fast_path_against_baseline(benchmark, workers, case):
    (ours_name, ours), (base_name, base) = workers.items()
    ratios, our_times, base_times = [], [], []

    def interleaved():
        for r in range(ROUNDS):
            first, second = (ours, base) if r % 2 == 0 else (base, ours)
            times = {id(first): first.time(case), id(second): second.time(case)}
            our_times.append(times[id(ours)] / REPEATS[case])
            base_times.append(times[id(base)] / REPEATS[case])
            ratios.append(our_times[-1] / base_times[-1])

    benchmark.pedantic(interleaved, rounds=1, iterations=1)
    # the fastest time of each side: what the code costs when nothing else on the machine interferes
    ratio = min(our_times) / min(base_times)
    benchmark.extra_info.update(ratio=ratio, median_round_ratio=statistics.median(ratios), ratios=ratios,
                                baseline=BASELINE)
    print(f"\n{case}: this tree {min(our_times) * 1e3:.4f} ms, {base_name} {min(base_times) * 1e3:.4f} ms (fastest "
          f"of {ROUNDS} rounds each), ratio {ratio:.3f}; median of the per-round ratios "
          f"{statistics.median(ratios):.3f} (rounds: {', '.join(f'{x:.3f}' for x in ratios)})")
    assert all(t > 0 for t in our_times + base_times)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve()
