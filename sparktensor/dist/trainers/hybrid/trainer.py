"""``HybridTrainer``: data x model parallelism, a mesh of D replicas each split over M ranks, as one gang.

```python
import sparktensor.dist as dist

trainer = dist.HybridTrainer(model, F.cross_entropy, optimizer, mesh=dist.Mesh(data=2, model=2),
                             sync="gradients", batch_size=64, engine=dist.SparkEngine())
model, history = trainer.fit(dist.from_dataframe(df, features="pixels", label="label"), epochs=3,
                             checkpoint_dir="ckpt")
```

The whole fit is one ``engine.run_gang`` of D * M ranks (on Spark one barrier stage), so the per-step
collectives go over the gang's direct connections, not through Spark jobs. Replica ``d`` reads partition
``d`` of the data, and its M ranks see the same batches; inside a replica run the sharded layers'
collectives (``dist.shard``); across replicas, the gradients are all-reduced every step
(``sync="gradients"``: the same training as one process at the global batch D * batch_size), or the weights
and optimizer state are averaged every ``tau`` steps (``sync="average"``: SparkNet). What each rank runs is in
``rank.py``.

While the gang runs, rank 0 reports each round to the driver, where ``fit``'s ``callback`` and progress bar
follow it; with ``eval_data`` the ranks evaluate the split model themselves (``eval_loss``, ``accuracy``).
At the end the ranks of replica 0 send their shares straight to the driver, which joins them into
``model``: no rank ever holds the whole model (``reports.py``).

A model too large for one rank is built under ``nn.init.deferred_init()``: its parameters hold recipes, not
values, so the driver ships a few hundred bytes and each rank makes only its own slices (``dist.shard``), bit
for bit those of the ordinary model after the same ``manual_seed``; the driver holds the trained model only
at the end, joined from replica 0's shares. An ordinary model still works: each rank receives it whole, once,
and keeps only its share. The ranks' checkpoints are per shard (``checkpoint.load_shard`` reads them into a
mesh of another size, ``checkpoint.gather_to_file`` streams them into one ordinary file), and after ``fit``
``trainer.rank_memory`` has each rank's resident memory when it started and at its peak.

Memory. A model is split because its parameters, gradients and optimizer state do not fit one worker.
``memory_limit=`` caps each rank's process with an OS limit, so the failure is a real ``MemoryError``, and
the error names the rank, what its share needs and the mesh that would fit (``memory.py``)::

    HybridTrainer(..., mesh=dist.Mesh(data=1, model=2), engine=dist.LocalEngine(),
                  gang={"mode": "processes"}, memory_limit=200 << 20)

On Spark the same limit comes from Spark itself: ``spark.executor.pyspark.memory`` (PySpark sets it as
``RLIMIT_AS`` on each Python worker: the whole worker, the shipped model included). Set with it
``spark.executorEnv.MALLOC_ARENA_MAX=1`` (glibc reserves 64 MiB of address space for each thread's malloc
arena, and a rank's connection threads would spend the limit on them) and, for a fresh worker per gang,
``spark.python.worker.reuse=false``.
"""
import logging
import math
import re
import uuid

import numpy as np

from ....autograd.grad_mode import no_grad
from ....nn import init
from ....nn.modules.dropout import Dropout
from ....nn.modules.rnn import RNNBase
from ....tensor import Tensor
from ..checkpoint import set_aside
from ...data.blocks import steps_per_epoch
from ..inputs import as_blocks
from ..multi_input import describe_inputs, input_spec
from ..schedule import check_gang_scheduler, gang_schedule
from ..shipping import ship
from ...data.resident import ResidentData
from ...engines.gang import GangError
from ..history import History
from .memory import state_per_parameter
from . import remesh
from .progress import RoundDelivery, progress_bar
from .rank import join_shares, train_rank
from .reports import GangInbox, follow, inbox_host
from ...engines.local import LocalEngine
from ...sharding import Mesh

log = logging.getLogger("sparktensor.dist")
_SYNC = ("gradients", "average")


class HybridTrainer:
    """Train ``model`` on a ``mesh`` of D data-parallel replicas x M model shards.

    Args:
        model: an ordinary ``nn.Module``, or one built under ``nn.init.deferred_init()`` (each rank then makes only
            its share); ``dist.shard`` splits it on the ranks (layers it cannot split stay replicated). The
            trained weights are loaded back into this object.
        loss: ``loss(output, target)``, a scalar averaged over the batch.
        optimizer: an optimizer over ``model.parameters()``; each rank runs one of its type and groups over its
            share. Its state starts afresh on the ranks and comes back into this optimizer after ``fit``.
        mesh: ``dist.Mesh(data=D, model=M)``.
        sync: ``"gradients"`` (all-reduce every step) or ``"average"`` (average weights and optimizer state every
            ``tau`` steps).
        tau: steps per round: one history record (and possible checkpoint) per round; in ``"average"`` mode also
            the steps between averages. Default 1 for ``"gradients"``, 10 for ``"average"``.
        batch_size: samples per step of each replica (the global batch is D * batch_size).
        seed: fixes batch orders and dropout masks (the M ranks of a replica draw the same masks when they are
            processes, as on Spark; threads share one generator, so train models with dropout on processes).
        engine: ``SparkEngine`` (default) or ``LocalEngine``; it must have ``run_gang``.
        shuffle: a new order of each partition every epoch.
        max_restarts: gangs started again after a rank fails (its exception, its process dying, a lost
            executor), each resuming from the checkpoints (so only with ``checkpoint_dir``).
        gang: keyword arguments of ``engine.run_gang``, e.g. ``{"mode": "processes"}`` on ``LocalEngine``
            (threads by default) or ``{"timeout": 300.0}`` (seconds a rank waits for a peer; also how long the
            ranks may run on after the first one returned, e.g. replica 0 sending its share of a large model to
            the driver, before the launcher takes them for hung).
        memory_limit: bytes each rank's process may add, while it trains, to what it holds when it starts (the
            interpreter, libraries, its data and the model as it arrived): an OS limit (``RLIMIT_AS``), so a rank
            whose share of the parameters, gradients, optimizer state and activations does not fit fails with
            a ``MemoryError`` that names the rank, what its share needs and how large a mesh would fit. Each
            rank needs its own process (Spark, or ``gang={"mode": "processes"}`` on ``LocalEngine``); Linux
            only. On Spark, ``spark.executor.pyspark.memory`` sets such a limit itself (the whole size of each
            Python worker, divided among an executor's cores), with the same error when a rank runs out.
        eval_batch_size: batch size of evaluation.
        progress: show a tqdm progress bar over rounds (it follows the gang as rank 0 reports each round).
        scheduler: a learning-rate schedule of ``optimizer`` (not ``ReduceLROnPlateau``). The driver steps it
            through the whole fit before the gang starts and sends each step's hyperparameters to the ranks, which
            set them in their own optimizers; afterwards it stands where stepping it during training would.
        scheduler_step: ``"round"`` (default: once per round of ``tau`` steps) or ``"step"``.
    """

    def __init__(self, model, loss, optimizer, mesh=None, sync="gradients", tau=None, batch_size=32, seed=0,
                 engine=None, shuffle=True, max_restarts=2, gang=None, memory_limit=None, eval_batch_size=1024,
                 progress=True, scheduler=None, scheduler_step="round"):
        if sync not in _SYNC:
            raise ValueError(f"sync must be one of {_SYNC}, got {sync!r}")
        tau = (1 if sync == "gradients" else 10) if tau is None else tau
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, (int, np.integer)) or max_restarts < 0:
            raise ValueError(f"max_restarts must be a non-negative integer, got {max_restarts!r}")
        for name, value in (("tau", tau), ("batch_size", batch_size), ("eval_batch_size", eval_batch_size),
                            ("memory_limit", 1 if memory_limit is None else memory_limit)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        own = {id(p) for p in model.parameters()}
        if not all(id(p) in own for g in optimizer.param_groups for p in g["params"]):
            raise ValueError("the optimizer holds parameters that are not the model's; build it from "
                             "model.parameters()")
        check_gang_scheduler(scheduler, optimizer, scheduler_step)
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.scheduler, self.scheduler_step = scheduler, scheduler_step
        self.mesh = Mesh() if mesh is None else mesh
        self.sync, self.tau, self.batch_size, self.seed = sync, int(tau), int(batch_size), int(seed)
        self.engine, self.shuffle, self.max_restarts = engine, bool(shuffle), int(max_restarts)
        self.gang = dict(gang or {})
        self.memory_limit = None if memory_limit is None else int(memory_limit)
        self.eval_batch_size, self.progress = int(eval_batch_size), progress
        self.rank_memory = None  # after fit: each rank's memory (rank._memory_report)
        self._crash = None  # test hook: (round index, global rank) that dies in the gang's first attempt

    def fit(self, data, epochs=None, rounds=None, eval_data=None, eval_every=1, checkpoint_dir=None,
            checkpoint_every=1, resume=False, callback=None):
        """Train; returns ``(model, history)`` (one ``History`` record per round of ``tau`` steps).

        Args:
            data: ``dist.Blocks``, an ``(x, y)`` pair of arrays or an RDD of pairs; cut into one partition per
                replica unless it has D partitions already.
            epochs: passes over the largest partition; or ``rounds``: the number of rounds (counting resumed ones).
            eval_data: data to report ``eval_loss`` and ``accuracy`` on (same forms as ``data``), evaluated on
                the ranks by the sharded model: each replica its own partition of it.
            eval_every: evaluate every this many rounds (and after the last).
            checkpoint_dir: every rank writes its share, optimizer state and history there every
                ``checkpoint_every`` rounds (and after the last), in ``rank-NNNNN/``; on a cluster, a directory
                every executor reaches (a shared file system).
            resume: continue from the checkpoints in ``checkpoint_dir`` of an earlier run with the same settings;
                the mesh's model width may differ (checkpoints of M model ranks load into M', see ``remesh``).
            callback: ``callback(round_record)`` on this thread after each round, while the gang trains on (rank
                0 reports each round to the driver; see ``reports``). It observes: the ranks have their
                own optimizers, so changing this one's learning rate does not reach them, and an exception it
                raises is raised when the gang has finished. Rounds resumed from checkpoints are not reported.
        """
        if (epochs is None) == (rounds is None):
            raise ValueError("pass exactly one of epochs= and rounds=")
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir=")
        for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if checkpoint_dir is not None and not resume:  # a fresh run: earlier runs' rank folders move aside
            set_aside(checkpoint_dir, pattern=re.compile(r"^rank-\d+$"))
        engine = self._engine()
        self._check_memory_limit(engine)
        blocks = self._blocks(data)
        eval_blocks = None if eval_data is None else self._blocks(eval_data, what="evaluation ")
        if eval_blocks is not None and input_spec(eval_blocks) != input_spec(blocks):
            raise ValueError("the training data and eval_data give the model different inputs; give both the same "
                             "(a tuple x in from_numpy for several)")
        per_epoch = steps_per_epoch(blocks.counts, self.batch_size)
        total = int(rounds) if rounds is not None else math.ceil(epochs * per_epoch / self.tau)
        deferred = any(init.is_deferred(p) for p in self.model.parameters())
        if not deferred:  # a deferred model has no values to run here: the ranks check the shapes
            self._check_model_fits(blocks)
            if eval_blocks is not None:
                self._check_model_fits(eval_blocks, what="evaluation data: ")
        # what a checkpoint must agree with to be resumed, and the rest each rank needs
        saved = {"run": uuid.uuid4().hex, "trainer": type(self).__name__, "mesh": [self.mesh.data, self.mesh.model],
                 "sync": self.sync, "tau": self.tau, "batch_size": self.batch_size, "seed": self.seed,
                 "shuffle": self.shuffle, "optimizer": type(self.optimizer).__name__, "counts": list(blocks.counts)}
        if self.scheduler is not None:  # only then: checkpoints of runs without one resume as before
            saved.update(scheduler=type(self.scheduler).__name__, scheduler_step=self.scheduler_step)
        moved = remesh.plan(checkpoint_dir, self.mesh, saved) if resume else None  # checkpoints of M ranks, into M'
        settings = dict(saved, saved=saved, remesh=moved, rounds=total, per_epoch=per_epoch,
                        checkpoint_dir=checkpoint_dir,
                        checkpoint_every=int(checkpoint_every), resume=bool(resume), dropout=_has_dropout(self.model),
                        crash=list(self._crash) if self._crash is not None else None,
                        memory_limit=self.memory_limit, state_per_parameter=state_per_parameter(self.optimizer),
                        model_bytes=sum(p.data.nbytes for p in self.model.parameters()), eval_every=int(eval_every),
                        eval_batch_size=self.eval_batch_size, input_spec=input_spec(blocks),
                        schedule=gang_schedule(self.scheduler, self.scheduler_step, total, self.tau))
        spec = ship(engine, (self.model, self.optimizer, self.loss), ("model", "optimizer", "loss"))
        handles = [engine.broadcast(block) for block in blocks.blocks]
        eval_handles = None if eval_blocks is None else [engine.broadcast(block) for block in eval_blocks.blocks]
        try:
            result = self._run(engine, spec, handles, eval_handles, settings, checkpoint_dir, callback, total)
        finally:
            for handle in handles + (eval_handles or []) + [spec]:
                engine.unbroadcast(handle)
        for p in self.model.parameters():  # a deferred model's parameters get memory for the trained values
            if init.is_deferred(p):
                p.data = np.empty(p.shape, p.dtype)
        self.model.load_state_dict(result["model"])
        self.optimizer.load_state_dict(result["optimizer"])
        self.rank_memory = result.get("memory")
        return self.model, History(result["history"])

    # ----- helpers -----
    def _run(self, engine, spec, handles, eval_handles, settings, checkpoint_dir, callback, total):
        """The trained state, joined from replica 0's shares; each round goes to ``callback`` and the progress
        bar as rank 0 reports it (``reports``)."""
        inbox = GangInbox(inbox_host(engine))
        settings = dict(settings, driver=inbox.where())
        rounds = RoundDelivery(callback, progress_bar(self.progress, total, type(self).__name__))
        try:
            shares = follow(lambda: self._launch(engine, spec, handles, eval_handles, settings, checkpoint_dir),
                            inbox, rounds.deliver)
            result = join_shares(shares, inbox.arrays)
            for record in result["history"]:  # the rounds whose reports did not reach the driver
                rounds.deliver(record)
            return result
        finally:
            inbox.close()
            rounds.close()

    def _launch(self, engine, spec, handles, eval_handles, settings, checkpoint_dir):
        """Replica 0's shares; a failed gang is started again (resuming from the checkpoints) up to
        ``max_restarts`` times."""
        world = self.mesh.world_size
        for attempt in range(self.max_restarts + 1):
            engine.describe(f"sparktensor HybridTrainer: {self.mesh.data} x {self.mesh.model} mesh, "
                            f"attempt {attempt + 1}")
            try:
                shares = engine.run_gang(train_rank, world, spec, handles, dict(settings, attempt=attempt),
                                         eval_handles, **self.gang)
                return shares[:self.mesh.model]
            except Exception as e:  # noqa: BLE001 - a rank's failure, whatever it was, restarts the gang
                if checkpoint_dir is None or attempt == self.max_restarts or _fails_again(e):
                    raise
                log.warning("the gang failed (%s); starting it again from the checkpoints in %s", e, checkpoint_dir)
            finally:
                engine.describe(None)

    def _check_memory_limit(self, engine):
        """A cap is per process: ranks on threads of this process cannot each have one."""
        if self.memory_limit is not None and isinstance(engine, LocalEngine) \
                and self.gang.get("mode", "threads") != "processes":
            raise ValueError("memory_limit caps each rank's process, but LocalEngine runs the ranks as threads of "
                             "this one: pass gang={'mode': 'processes'}")

    def _engine(self):
        if self.engine is None:
            from ...engines.spark import SparkEngine
            self.engine = SparkEngine()
        if not callable(getattr(self.engine, "run_gang", None)):
            raise TypeError(f"{self.engine!r} cannot launch a gang of ranks (it has no run_gang)")
        return self.engine

    def _blocks(self, data, what=""):
        blocks = as_blocks(data)
        if isinstance(blocks, ResidentData):
            # a gang's ranks are placed by the barrier stage, not where the blocks are: they come to the driver
            log.warning("HybridTrainer gathers %r on the driver to hand each replica its block", blocks)
            blocks = blocks.to_blocks()
        if blocks.num_partitions != self.mesh.data:
            blocks = blocks.repartition(self.mesh.data)
        empty = [i for i, n in enumerate(blocks.counts) if n == 0]
        if empty:
            raise ValueError(f"{what}partitions {empty} of {blocks.num_partitions} are empty; every one of the "
                             f"{self.mesh.data} replicas needs samples (use fewer replicas or more data)")
        return blocks

    def _check_model_fits(self, blocks, what=""):
        """Run the model on two samples here: wrong shapes fail before a gang starts, with the data's shape."""
        x, _ = blocks.head
        xs = x if isinstance(x, tuple) else (x,)
        training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                self.model(*(Tensor(a[:2]) for a in xs))
        except Exception as e:
            raise ValueError(f"{what}the model cannot take the data's {describe_inputs(xs)}: {e}") from e
        finally:
            self.model.train(training)


def _fails_again(error):
    """Whether a gang's failure would repeat if the gang started again: bad settings or data, a rank that ran
    out of memory (on Spark the rank's exception arrives as a ``GangError`` quoting it)."""
    deterministic = (ValueError, TypeError, MemoryError, FloatingPointError)
    if isinstance(error, deterministic):
        return True
    return isinstance(error, GangError) and not error.died and any(
        f"failed: {kind.__name__}:" in str(error) for kind in deterministic)


def _has_dropout(model):
    return any(isinstance(m, Dropout) and m.p > 0 or isinstance(m, RNNBase) and m.dropout > 0
               for m in model.modules())
