"""The point of model parallelism: a model whose share does not fit a rank's memory at M = 1 trains at M = 2.

The ranks run as processes, each capped by an OS limit (``memory_limit``, ``RLIMIT_AS``), so running out is a
real ``MemoryError``. ``test_spark_executor_pyspark_memory_caps_the_ranks_the_same_way`` checks the same on
Spark, capped by ``spark.executor.pyspark.memory``, in a separate Python process with its own session.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor.dist.trainers.hybrid.memory import share_bytes, state_per_parameter

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory_limit needs Linux")

WIDTH, HIDDEN_LAYERS, SAMPLES = 2048, 3, 32


def wide_mlp(hidden_layers=HIDDEN_LAYERS):
    """256 -> 2048 -> 2048 -> 2048 -> 2048 -> 10: 13.1 M float32 parameters, 50 MiB."""
    st.manual_seed(0)
    layers = [nn.Linear(256, WIDTH), nn.Tanh()]
    for _ in range(hidden_layers):
        layers += [nn.Linear(WIDTH, WIDTH), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(WIDTH, 10))


def one_batch():
    """One batch of a learnable task: every step sees the same samples, so the loss must go down."""
    x = np.random.default_rng(0).standard_normal((SAMPLES, 256)).astype(np.float32)
    return x, x[:, :10].argmax(axis=1)


def train(model_ranks, memory_limit, rounds):
    model = wide_mlp()
    trainer = dist.HybridTrainer(model, F.cross_entropy, st.optim.Adam(model.parameters(), lr=1e-4),
                                 mesh=dist.Mesh(data=1, model=model_ranks), batch_size=SAMPLES, shuffle=False,
                                 engine=dist.LocalEngine(), gang={"mode": "processes"},
                                 memory_limit=memory_limit, progress=False)
    return trainer.fit(one_batch(), rounds=rounds)


def test_a_model_over_the_memory_cap_fails_on_one_rank_and_trains_split_over_two():
    parameters = sum(p.data.nbytes for p in wide_mlp().parameters())
    needs = 4 * parameters  # parameters, gradients and Adam's two moments, all on one rank at M = 1
    limit = int(0.8 * needs)  # at M = 2 each rank needs half of it, plus activations and Adam's scratch
    with pytest.raises(MemoryError) as failure:
        train(1, limit, rounds=2)
    message = str(failure.value)
    assert "rank 0 (replica 0, model shard 0 of 1) ran out of memory" in message
    assert f"its share of the model needs {needs:,} bytes" in message
    assert f"Adam state {2 * parameters:,} bytes" in message
    assert f"over the memory_limit of {limit:,} bytes" in message
    assert "split the model over more ranks: Mesh(data=1, model=2) needs about" in message
    assert "The allocation that failed: " in message

    model, history = train(2, limit, rounds=3)
    assert history["loss"][-1] < history["loss"][0]
    assert [tuple(p.shape) for p in model.parameters()] == [tuple(p.shape) for p in wide_mlp().parameters()]


def test_share_bytes_counts_a_shard_and_the_optimizer_state_per_parameter():
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    sharded = dist.shard(model, _OneOfTwo())
    adam, sgd = st.optim.Adam(model.parameters()), st.optim.SGD(model.parameters(), lr=0.1)
    assert state_per_parameter(adam) == 2
    assert state_per_parameter(st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)) == 1
    assert state_per_parameter(sgd) == 0
    # rank 0 of 2: half of the first layer's rows, half of the second's columns, the second's whole bias
    split = 4 * (4 * 6 + 4 + 4 * 4)
    needs = share_bytes(sharded, state_per_parameter(adam))
    assert needs == {"parameters": split + 4 * 4, "gradients": split + 4 * 4, "optimizer_state": 2 * (split + 16),
                     "split": split, "total": 4 * (split + 16)}


class _OneOfTwo:
    """Rank 0 of a model group of two, enough to build a share (building one does not communicate)."""
    rank, world_size = 0, 2

    def all_gather(self, array, axis=0):
        raise AssertionError("sharding must not communicate")


def test_memory_limit_needs_each_rank_in_its_own_process():
    model = wide_mlp()
    with pytest.raises(ValueError, match=r"runs the ranks as threads of this one: pass gang=\{'mode': 'processes'\}"):
        dist.HybridTrainer(model, F.cross_entropy, st.optim.Adam(model.parameters()), engine=dist.LocalEngine(),
                           memory_limit=1 << 30, progress=False).fit(one_batch(), rounds=1)
    with pytest.raises(ValueError, match="memory_limit must be a positive integer, got 0"):
        dist.HybridTrainer(model, F.cross_entropy, st.optim.Adam(model.parameters()), memory_limit=0)


def test_the_cap_is_a_real_os_limit_and_is_lifted_afterwards():
    """In a fresh process (a cap is the whole process's): allocations past it fail, and work again after it."""
    script = textwrap.dedent("""
        import resource
        import numpy as np
        from sparktensor.dist.trainers.hybrid.memory import memory_cap
        before = resource.getrlimit(resource.RLIMIT_AS)
        with memory_cap(64 << 20, rank=0):
            small = np.ones(8 << 20, np.uint8)            # 8 MiB: under the cap
            try:
                np.ones(128 << 20, np.uint8)               # 128 MiB: over it
                print("no MemoryError")
            except MemoryError:
                print("MemoryError")
            try:
                with memory_cap(1 << 20, rank=1):
                    pass
            except ValueError as e:
                print(e)
        assert resource.getrlimit(resource.RLIMIT_AS) == before
        print("after", np.ones(256 << 20, np.uint8).sum() == 256 << 20)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "MemoryError"
    assert lines[1].startswith("rank 1 runs in the same process as rank 0, and memory_limit caps a whole process")
    assert lines[2] == "after True"


SPARK_SCRIPT = textwrap.dedent("""
    import resource
    import sys
    sys.path.insert(0, {tests!r})
    from pyspark.sql import SparkSession
    import sparktensor.dist as dist
    import test_dist_hybrid_memory as case

    def main():
        spark = (SparkSession.builder.master("local[2]").appName("sparktensor-pyspark-memory")
                 .config("spark.pyspark.python", sys.executable).config("spark.ui.enabled", "false")
                 .config("spark.driver.memory", "2g")                    # the shares come back as task results
                 .config("spark.python.worker.reuse", "false")           # each rank in a fresh Python worker
                 .config("spark.executorEnv.MALLOC_ARENA_MAX", "1")       # see HybridTrainer's memory_limit
                 .config("spark.executor.pyspark.memory", "{memory_mib}m").getOrCreate())
        engine = dist.SparkEngine(spark)
        limit = spark.sparkContext.parallelize([0], 1).map(lambda _: resource.getrlimit(resource.RLIMIT_AS)[0])
        print("limit", limit.collect()[0], flush=True)
        for model_ranks in (1, 2):
            model = case.wide_mlp({hidden_layers})
            trainer = dist.HybridTrainer(model, case.F.cross_entropy, case.st.optim.Adam(model.parameters(), lr=1e-4),
                                         mesh=dist.Mesh(data=1, model=model_ranks), batch_size=case.SAMPLES,
                                         shuffle=False, engine=engine, progress=False)
            try:
                _, history = trainer.fit(case.one_batch(), rounds=2)
                print("trained", model_ranks, history["loss"][0], history["loss"][-1], flush=True)
            except Exception as e:
                print("failed", model_ranks, type(e).__name__, str(e).replace(chr(10), " "), flush=True)
        spark.stop()

    main()
""")


def _worker_size():
    """About the size of a Spark Python worker that runs a rank: an interpreter with PySpark, NumPy and
    sparktensor loaded and BLAS's buffers allocated (measured in a fresh process)."""
    probe = ("import numpy as np, pyspark.worker, sparktensor.dist.trainers.hybrid.rank\n"
             "a = np.ones((512, 512), np.float32); a @ a\n"
             "from sparktensor.dist.trainers.hybrid.memory import address_space; print(address_space())")
    return int(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)


def test_spark_executor_pyspark_memory_caps_the_ranks_the_same_way():
    """``spark.executor.pyspark.memory`` is an RLIMIT_AS on each Python worker: M = 1 runs out, M = 2 trains.

    On Spark a rank also holds the model as shipped (pickled, about P, while it trains) and, for a moment,
    unpickled (P again, dropped once split). Measured peaks: about 3.4 P over the worker's own size at M = 2,
    5.3 P at M = 1, so a cap at 4.3 P sits between them with a margin of about one P either way.
    """
    pytest.importorskip("pyspark")
    hidden_layers = 6  # P = 98 MiB: the margins are large next to what a step allocates for a moment
    parameters = sum(p.data.nbytes for p in wide_mlp(hidden_layers).parameters())
    memory_mib = (_worker_size() + int(4.3 * parameters)) >> 20
    script = SPARK_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)), memory_mib=memory_mib,
                                 hidden_layers=hidden_layers)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=540)
    lines = [line for line in done.stdout.splitlines() if line.split(" ", 1)[0] in ("limit", "trained", "failed")]
    assert done.returncode == 0 and len(lines) == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert lines[0] == f"limit {memory_mib << 20}"
    failed = lines[1].split(" ", 3)
    assert failed[:3] == ["failed", "1", "GangError"], lines[1]
    assert "rank 0 of 1 failed: MemoryError: rank 0 (replica 0, model shard 0 of 1) ran out of memory" in failed[3]
    assert f"its share of the model needs {4 * parameters:,} bytes" in failed[3]
    assert f"under the process's address-space limit of {memory_mib << 20:,} bytes" in failed[3]
    assert "spark.executor.pyspark.memory" in failed[3]
    trained = lines[2].split()
    assert trained[:2] == ["trained", "2"] and float(trained[3]) < float(trained[2]), lines[2]
