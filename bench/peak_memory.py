"""Peak resident memory of a training step, each library in a fresh process.

    python bench/peak_memory.py

Prints a Markdown table: for each case and library, the growth of the peak
resident set (ru_maxrss) over the process's size after building the model, for
20 steps.
"""
import subprocess
import sys

CASES = {
    "MLP 784-512-512-10 batch 128 (training step)": "test_training_step",
    "LeNet-5 batch 64 (fwd+bwd)": "test_lenet",
    "2-layer LSTM 256, seq 35, batch 32 (fwd+bwd)": "test_lstm",
}

CHILD = r"""
import resource, sys, numpy as np
sys.path.insert(0, "bench")
import torch, sparktensor as st
torch.set_num_threads(2)
module, role = sys.argv[1], sys.argv[2]
m = __import__(module)
lib = st if role == "sparktensor" else torch
if module == "test_training_step":
    args = m.build(lib); run = lambda: m.step(lib, *args)
elif module == "test_lenet":
    params, x, y = m._data()
    params = [lib.tensor(p, requires_grad=True) for p in params]
    F = torch.nn.functional if role == "torch" else st.nn.functional
    run = lambda: m.step(F.conv2d, F.max_pool2d, params, lib.tensor(x), lib.tensor(y))
else:
    ours, theirs, x = m._models()
    model = ours if role == "sparktensor" else theirs
    xt = lib.tensor(x, requires_grad=True)
    run = lambda: m.step(model, xt)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(20):
    run()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def main():
    print("| case | sparktensor peak growth | torch peak growth |")
    print("|---|---|---|")
    for case, module in CASES.items():
        growth = {}
        for role in ("sparktensor", "torch"):
            out = subprocess.run([sys.executable, "-c", CHILD, module, role], capture_output=True, text=True)
            growth[role] = (f"{float(out.stdout.split()[-1]):.1f}" if out.returncode == 0
                            else "error: " + out.stderr[-200:])
        print(f"| {case} | {growth['sparktensor']} MiB | {growth['torch']} MiB |")


if __name__ == "__main__":
    main()
