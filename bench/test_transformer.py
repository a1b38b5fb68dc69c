"""Transformers: an encoder block's training step against PyTorch CPU, and the block split over M = 2 ranks
against M = 1.

* One training step (forward, mean-square loss, backward, Adam) of ``nn.TransformerEncoderLayer(256, 4,
  dim_feedforward=1024, dropout=0, batch_first=True)`` on a (32, 128, 256) float32 batch, sparktensor against
  ``torch.nn.TransformerEncoderLayer`` with the same weights and the same thread count (``BENCH_THREADS``,
  default all cores). Goal: sparktensor <= 1.2x PyTorch's time.
* The same block, two of them stacked, split by ``dist.shard`` over M = 2 ranks (heads and feed-forward
  halves, residuals and layer norms sequence-parallel; processes on one host, whose connections carry the
  payloads through shared memory) against M = 1, each rank on one thread (BLAS and the intra-op pool): M = 2
  uses two cores, M = 1 one. Goal: M = 2 at least 1.6x faster. Printed with
  a breakdown per step: each rank's compute (its main thread's CPU time) and the rest (waiting).

Both are interleaved in rounds (``BENCH_TRANSFORMER_ROUNDS``, default 5), the order flipped each round so a
drift in the machine's load favours neither side; each round times ``STEPS`` steps of each side after a
warm-up step and keeps their median; the ratios of the rounds are reported as median (min-max).

Run: ``python -m pytest bench/test_transformer.py --benchmark-only -s -q``.
"""
import os
import statistics
import time

import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.dist as dist
from interleave import interleaved, same_threads

D_MODEL, HEADS, FEEDFORWARD, SEQ, BATCH = 256, 4, 1024, 128, 32
ROUNDS = int(os.environ.get("BENCH_TRANSFORMER_ROUNDS", 5))
STEPS = 3
TIMEOUT = 600.0
CASE = (f"TransformerEncoderLayer d_model {D_MODEL}, {HEADS} heads, feed-forward {FEEDFORWARD}, seq {SEQ}, "
        f"batch {BATCH}: training step")


def build(lib, layers=1, seed=0):
    """Encoder layers, weights drawn once from PyTorch's init, an Adam optimizer and one input, for ``st`` or
    ``torch``."""
    torch.manual_seed(seed)
    block = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0, batch_first=True)
    reference = torch.nn.TransformerEncoder(block, layers, enable_nested_tensor=False) if layers > 1 else block
    x = np.random.default_rng(seed).standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32)
    if lib is torch:
        model = reference
    else:
        block = st.nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0, batch_first=True)
        model = st.nn.TransformerEncoder(block, layers) if layers > 1 else block
        model.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    return model, lib.optim.Adam(model.parameters(), lr=1e-4), lib.tensor(x)


def step(model, optimizer, x):
    """Forward, mean-square loss, backward, Adam update (the same code for both libraries)."""
    loss = (model(x) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def median_step_seconds(model, optimizer, x, steps=STEPS):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(model, optimizer, x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def spread(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


@pytest.mark.benchmark(group=CASE)
def test_encoder_layer_step_against_pytorch(benchmark):
    same_threads()
    ours, theirs = build(st), build(torch)
    # one step from the same weights lands on the same weights: the two sides do the same work
    losses = step(*ours).item(), step(*theirs).item()
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    expected = theirs[0].state_dict()
    for key, value in ours[0].state_dict().items():
        np.testing.assert_allclose(value.numpy(), expected[key].numpy(), rtol=1e-4, atol=1e-6, err_msg=key)
    found = benchmark.pedantic(interleaved, ({"sparktensor": lambda: median_step_seconds(*ours),
                                              "torch": lambda: median_step_seconds(*theirs)}, ROUNDS), rounds=1)
    ratios = [a / b for a, b in zip(found["sparktensor"], found["torch"])]
    threads = torch.get_num_threads()
    print(f"\n{CASE}, {threads} thread(s) each, {ROUNDS} interleaved rounds of {STEPS} steps")
    print("| sparktensor ms | torch ms | sparktensor / torch (median, min-max of rounds) |\n|---|---|---|")
    print(f"| {statistics.median(found['sparktensor']) * 1e3:.0f} | {statistics.median(found['torch']) * 1e3:.0f} "
          f"| {spread(ratios)} (goal <= 1.2) |")
    assert all(np.isfinite(ratios))


def sharded_step_seconds(comm, layers, steps):
    """On one rank, on one thread: shard the encoder, one warm-up step, then the median of ``steps``
    timed steps (each begun together with the other ranks), the loss of the warm-up step, and per step the
    median CPU seconds of this rank's main thread (its compute; the rest of the step it waited for the others
    or for the bytes) and bytes sent."""
    with st.parallel.task_threads(1):  # BLAS and the intra-op pool: one core per rank, M = 1 included
        model, _, x = build(st, layers)
        model = dist.shard(model, comm)
        optimizer = st.optim.Adam(model.parameters(), lr=1e-4)
        times, cpu, sent = [], [], []
        for i in range(steps + 1):
            comm.barrier()
            before, start, start_cpu = comm.bytes_sent, time.perf_counter(), time.thread_time()
            loss = step(model, optimizer, x)
            times.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
            sent.append(comm.bytes_sent - before)
            if i == 0:
                first_loss = loss.item()
        return (statistics.median(times[1:]), first_loss, sum(p.size for p in model.parameters()),
                statistics.median(sent[1:]), statistics.median(cpu[1:]))


def run_sharded(model_ranks, layers=2, steps=STEPS):
    """``(seconds per step, warm-up loss, parameters on rank 0, bytes rank 0 sends per step, [main-thread CPU
    seconds per step of each rank])`` of the encoder split over ``model_ranks``."""
    ranks = dist.LocalEngine().run_gang(sharded_step_seconds, model_ranks, layers, steps, mode="processes",
                                        timeout=TIMEOUT)
    return (max(r[0] for r in ranks),) + ranks[0][1:4] + ([r[4] for r in ranks],)


def analytic_bytes(layers, world_size, itemsize=4):
    """Bytes a rank sends per step. The layers run sequence-parallel (``sharding/transformer.py``): every
    exchange of the (batch, seq, d_model) activations is a reduce-scatter or an all-gather, in which a rank
    sends (M - 1) / M of the buffer. Forward, per layer: the attention's and the feed-forward's row-parallel
    outputs reduce-scattered and the rows all-gathered before the feed-forward and (not the first layer's: it
    reads the whole input) before the attention, then one all-gather of the output: 4 L. Backward, each of
    those in reverse but the last (the output's gradient is whole on every rank): 4 L - 1. Then one ring
    all-reduce (2 (M - 1) / M of the buffer) of the gradients of the 6 d_model replicated parameters per layer
    applied to a rank's rows (two layer norms, two biases)."""
    activations = (8 * layers - 1) * (world_size - 1) / world_size * BATCH * SEQ * D_MODEL * itemsize
    return activations + 2 * (world_size - 1) / world_size * 6 * D_MODEL * layers * itemsize


@pytest.mark.benchmark(group="two TransformerEncoderLayers split over M ranks, one core each")
def test_model_parallel_encoder_m2_against_m1(benchmark):
    runs = {"M=1": [], "M=2": []}

    def measure(ranks):
        def once():
            result = run_sharded(ranks)
            runs[f"M={ranks}"].append(result)
            return result[0]
        return once

    found = benchmark.pedantic(interleaved, ({"M=1": measure(1), "M=2": measure(2)}, ROUNDS), rounds=1)
    speedups = [one / two for one, two in zip(found["M=1"], found["M=2"])]
    (_, loss_1, params_1, _, _), (_, loss_2, params_2, sent, _) = runs["M=1"][0], runs["M=2"][0]
    print(f"\ntwo encoder layers ({CASE.split(':')[0]}), Adam steps, {ROUNDS} interleaved rounds of "
          f"{STEPS} steps; {params_1:,} parameters at M=1, {params_2:,} on rank 0 at M=2, which sends "
          f"{sent / 2**20:.2f} MiB a step (analytic {analytic_bytes(2, 2) / 2**20:.2f} MiB)")
    print("| M=1 ms | M=2 ms | M=1 / M=2 (median, min-max of rounds) |\n|---|---|---|")
    print(f"| {statistics.median(found['M=1']) * 1e3:.0f} | {statistics.median(found['M=2']) * 1e3:.0f} | "
          f"{spread(speedups)} (goal >= 1.6) |")
    print("per step, median of the rounds: compute = the rank's main-thread CPU, the rest of its step waited "
          "(for the other rank, the bytes, or a core)\n| side | step ms | compute ms per rank | waiting ms per rank |"
          "\n|---|---|---|---|")
    for side, results in runs.items():
        step_ms = statistics.median(r[0] for r in results) * 1e3
        compute = [statistics.median(r[4][i] for r in results) * 1e3 for i in range(len(results[0][4]))]
        print(f"| {side} | {step_ms:.0f} | {', '.join(f'{c:.0f}' for c in compute)} | "
              f"{', '.join(f'{step_ms - c:.0f}' for c in compute)} |")
    assert loss_2 == pytest.approx(loss_1, rel=1e-5)  # the split model computes the same step
    assert params_2 < params_1
    assert sent == pytest.approx(analytic_bytes(2, 2), rel=0.01)
