"""The GPU check in one command: the cuda half of the test suite on real CuPy, then the MLP, LeNet-5 and LSTM
training steps against PyTorch CUDA, written to one file.

    python bench/gpu_suite.py [--out bench/GPU_RESULTS.md] [--rounds 5] [--steps 30] [--skip-tests]

Needs a CUDA device, CuPy (pip install 'sparktensor[cuda12]' or '[cuda13]') and PyTorch built for CUDA. It
refuses to run on the CPU stand-in: the figures must come from a GPU.

The step benchmarks interleave the two libraries in rounds within one process (each round the median of
``--steps`` steps of each, every step ended by a device synchronize) and report the median round with the
min and max, as the CPU table in bench/RESULTS.md does.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def check_gpu():
    """Real CuPy with a device and PyTorch with CUDA, or an error saying which is missing."""
    os.environ.pop("SPARKTENSOR_CUPY_STANDIN", None)
    import torch

    import sparktensor as st
    if not st.cuda_is_available():
        sys.exit("no CUDA device through CuPy: install 'sparktensor[cuda12]' (or [cuda13]) on a GPU machine")
    cupy = st.backend.import_cupy()
    if getattr(cupy, "__cupy_standin__", False):
        sys.exit("cupy is the test stand-in, not CuPy")
    if not torch.cuda.is_available():
        sys.exit("PyTorch does not see CUDA: install a CUDA build of torch")
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return {"gpu": name, "cupy": cupy.__version__, "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "python": platform.python_version()}


def run_tests(report_dir):
    """The cuda half of the suite (every test id with ``cupy``) on real CuPy; counts from pytest's JUnit XML."""
    xml = report_dir / "gpu_tests.xml"
    log = report_dir / "gpu_tests.log"
    env = {k: v for k, v in os.environ.items() if k != "SPARKTENSOR_CUPY_STANDIN"}
    command = [sys.executable, "-m", "pytest", "tests", "-k", "cupy", "-q", "-p", "no:cacheprovider",
               "-rfE", f"--junitxml={xml}"]
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.call(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    suite = ElementTree.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    return {"exit_code": code, "seconds": round(seconds, 1), **counts, "failed": failed, "log": str(log)}


# ----- the three training steps, built the same way in both libraries -----

def _load_same_weights(lib, model, seed):
    rng = np.random.default_rng(seed)
    weights = {}
    for key, value in model.state_dict().items():
        shape = tuple(value.shape)
        bound = 1 / np.sqrt(max(1, int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]))
        weights[key] = lib.tensor(rng.uniform(-bound, bound, shape).astype(np.float32))
    model.load_state_dict(weights)


def mlp(lib):
    nn = lib.nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    rng = np.random.default_rng(1)
    return model, rng.standard_normal((128, 784)).astype(np.float32), rng.integers(0, 10, 128)


def lenet(lib):
    nn = lib.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    rng = np.random.default_rng(2)
    return model, rng.standard_normal((64, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 64)


def lstm(lib):
    nn = lib.nn

    class LastStepHead(nn.Module):
        """2-layer LSTM 256 over 35 steps, its last step to a linear head."""

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(256, 256, 2)
            self.head = nn.Linear(256, 10)

        def forward(self, x):
            output, _ = self.lstm(x)
            return self.head(output[-1])

    rng = np.random.default_rng(3)
    return LastStepHead(), rng.standard_normal((35, 32, 256)).astype(np.float32), rng.integers(0, 10, 32)


CASES = {"MLP 784-512-512-10, batch 128": mlp, "LeNet-5, batch 64": lenet,
         "2-layer LSTM 256, seq 35, batch 32, last step to a linear head": lstm}


def prepare(lib, build, device="cuda"):
    """One training step of ``build``'s model in ``lib`` (``sparktensor`` or ``torch``) on ``device``."""
    model, x, y = build(lib)
    _load_same_weights(lib, model, seed=0)
    model = model.to(device)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = lib.tensor(x, device=device)
    y = lib.tensor(y, device=device)

    def step():
        loss = lib.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return step


def _synchronizers(device):
    import torch

    import sparktensor as st
    if device == "cpu":
        return {"sparktensor": lambda: None, "torch": lambda: None}
    cupy = st.backend.import_cupy()
    return {"sparktensor": lambda: cupy.cuda.get_current_stream().synchronize(), "torch": torch.cuda.synchronize}


def _median_step_seconds(step, synchronize, steps):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_benchmarks(rounds, steps, device="cuda"):
    """Each case: both libraries interleaved in ``rounds`` rounds; losses of the first steps compared."""
    import torch

    import sparktensor as st
    libraries = {"sparktensor": st, "torch": torch}
    # full float32 on both sides: CuPy does not use TF32 unless CUPY_TF32=1, PyTorch's cuDNN does by default
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    synchronize = _synchronizers(device)
    results = []
    for case, build in CASES.items():
        step = {name: prepare(lib, build, device) for name, lib in libraries.items()}
        first_losses = {name: [float(step[name]().item()) for _ in range(3)] for name in libraries}
        for name in libraries:  # warm-up: kernels compiled, memory pools filled
            for _ in range(5):
                step[name]()
            synchronize[name]()
        per_round = {name: [] for name in libraries}
        for _ in range(rounds):
            for name in libraries:
                per_round[name].append(_median_step_seconds(step[name], synchronize[name], steps))
        ratios = [a / b for a, b in zip(per_round["sparktensor"], per_round["torch"])]
        results.append({
            "case": case,
            "sparktensor_ms": round(statistics.median(per_round["sparktensor"]) * 1e3, 3),
            "torch_ms": round(statistics.median(per_round["torch"]) * 1e3, 3),
            "ratio": round(statistics.median(ratios), 3), "ratio_min": round(min(ratios), 3),
            "ratio_max": round(max(ratios), 3),
            "first_losses": first_losses,
            "losses_agree": bool(np.allclose(first_losses["sparktensor"], first_losses["torch"], rtol=1e-3,
                                             atol=1e-4)),
        })
    return results


def write_report(out, machine, tests, benchmarks, rounds, steps):
    lines = [f"# GPU run: {machine['gpu']}", "",
             f"CuPy {machine['cupy']}, PyTorch {machine['torch']} (CUDA {machine['torch_cuda']}), "
             f"Python {machine['python']}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    if tests is not None:
        lines += ["## The cuda half of the test suite (pytest tests -k cupy)", "",
                  f"{tests['passed']} passed, {tests['failures']} failed, {tests['errors']} errors, "
                  f"{tests['skipped']} skipped of {tests['tests']} in {tests['seconds']} s "
                  f"(exit code {tests['exit_code']}; log {tests['log']}).", ""]
        lines += [f"- FAILED {name}" for name in tests["failed"]] + ([""] if tests["failed"] else [])
    lines += ["## Training step on the GPU, sparktensor time / PyTorch CUDA time", "",
              f"{rounds} interleaved rounds, each the median of {steps} synchronized steps; SGD with momentum; "
              f"float32 without TF32 on both sides (CUPY_TF32={os.environ.get('CUPY_TF32', 'unset')}).", "",
              "| step | sparktensor | PyTorch | ratio (median) | min | max | first 3 losses agree |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['sparktensor_ms']} ms | {r['torch_ms']} ms | {r['ratio']}x | {r['ratio_min']} "
              f"| {r['ratio_max']} | {'yes' if r['losses_agree'] else 'NO'} |" for r in benchmarks]
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": machine, "tests": tests,
                                                     "benchmarks": benchmarks}, indent=2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "GPU_RESULTS.md",
                        help="the report (a .json beside it holds the same figures); default bench/GPU_RESULTS.md")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case (default 5)")
    parser.add_argument("--steps", type=int, default=30, help="steps timed per library per round (default 30)")
    parser.add_argument("--skip-tests", action="store_true", help="only the benchmarks")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="cpu checks this script on a machine without a GPU (benchmarks only); default cuda")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be at least 1")
    if args.device == "cpu":
        import torch
        machine = {"gpu": "none (CPU check of the script)", "cupy": None, "torch": torch.__version__,
                   "torch_cuda": None, "python": platform.python_version()}
    else:
        machine = check_gpu()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tests = None if args.skip_tests or args.device == "cpu" else run_tests(args.out.parent)
    benchmarks = run_benchmarks(args.rounds, args.steps, args.device)
    write_report(args.out, machine, tests, benchmarks, args.rounds, args.steps)
    print(args.out.read_text())
    return 0 if tests is None or tests["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
