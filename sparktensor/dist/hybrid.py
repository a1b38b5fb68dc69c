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
``hybrid_rank.py``.
"""
import logging
import math
import uuid

import numpy as np

from ..autograd.grad_mode import no_grad
from ..nn.modules.dropout import Dropout
from ..nn.modules.rnn import RNNBase
from ..tensor import Tensor
from .data import as_blocks, steps_per_epoch
from .history import History
from .hybrid_rank import train_rank
from .sharding import Mesh

log = logging.getLogger("sparktensor.dist")
_SYNC = ("gradients", "average")


class HybridTrainer:
    """Train ``model`` on a ``mesh`` of D data-parallel replicas x M model shards.

    Args:
        model: an ordinary ``nn.Module``; ``dist.shard`` splits it on the ranks (layers it cannot split stay
            replicated). The trained weights are loaded back into this object.
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
            (threads by default) or ``{"timeout": 300.0}`` (seconds a rank waits for a peer).
    """

    def __init__(self, model, loss, optimizer, mesh=None, sync="gradients", tau=None, batch_size=32, seed=0,
                 engine=None, shuffle=True, max_restarts=2, gang=None):
        if sync not in _SYNC:
            raise ValueError(f"sync must be one of {_SYNC}, got {sync!r}")
        tau = (1 if sync == "gradients" else 10) if tau is None else tau
        for name, value in (("tau", tau), ("batch_size", batch_size), ("max_restarts", max_restarts + 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        own = {id(p) for p in model.parameters()}
        if not all(id(p) in own for g in optimizer.param_groups for p in g["params"]):
            raise ValueError("the optimizer holds parameters that are not the model's; build it from "
                             "model.parameters()")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.mesh = Mesh() if mesh is None else mesh
        self.sync, self.tau, self.batch_size, self.seed = sync, int(tau), int(batch_size), int(seed)
        self.engine, self.shuffle, self.max_restarts = engine, bool(shuffle), int(max_restarts)
        self.gang = dict(gang or {})
        self._crash = None  # test hook: (round index, global rank) that dies in the gang's first attempt

    def fit(self, data, epochs=None, rounds=None, checkpoint_dir=None, checkpoint_every=1, resume=False):
        """Train; returns ``(model, history)`` (one ``History`` record per round of ``tau`` steps).

        Args:
            data: ``dist.Blocks``, an ``(x, y)`` pair of arrays or an RDD of pairs; cut into one partition per
                replica unless it has D partitions already.
            epochs: passes over the largest partition; or ``rounds``: the number of rounds (counting resumed ones).
            checkpoint_dir: every rank writes its share, optimizer state and history there every
                ``checkpoint_every`` rounds (and after the last), in ``rank-NNNNN/``; on a cluster, a directory
                every executor reaches (a shared file system).
            resume: continue from the checkpoints in ``checkpoint_dir`` of an earlier run with the same settings.
        """
        if (epochs is None) == (rounds is None):
            raise ValueError("pass exactly one of epochs= and rounds=")
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir=")
        engine = self._engine()
        blocks = self._blocks(data)
        per_epoch = steps_per_epoch(blocks.counts, self.batch_size)
        total = int(rounds) if rounds is not None else math.ceil(epochs * per_epoch / self.tau)
        self._check_model_fits(blocks)
        # what a checkpoint must agree with to be resumed, and the rest each rank needs
        saved = {"run": uuid.uuid4().hex, "trainer": type(self).__name__, "mesh": [self.mesh.data, self.mesh.model],
                 "sync": self.sync, "tau": self.tau, "batch_size": self.batch_size, "seed": self.seed,
                 "shuffle": self.shuffle, "optimizer": type(self.optimizer).__name__, "counts": list(blocks.counts)}
        settings = dict(saved, saved=saved, rounds=total, per_epoch=per_epoch, checkpoint_dir=checkpoint_dir,
                        checkpoint_every=int(checkpoint_every), resume=bool(resume), dropout=_has_dropout(self.model),
                        crash=list(self._crash) if self._crash is not None else None)
        spec = engine.ship((self.model, self.optimizer, self.loss))
        handles = [engine.broadcast(block) for block in blocks.blocks]
        try:
            result = self._run(engine, spec, handles, settings, checkpoint_dir)
        finally:
            for handle in handles + [spec]:
                engine.unbroadcast(handle)
        self.model.load_state_dict(result["model"])
        self.optimizer.load_state_dict(result["optimizer"])
        return self.model, History(result["history"])

    # ----- helpers -----
    def _run(self, engine, spec, handles, settings, checkpoint_dir):
        """The gang's rank-0 result; a failed gang is started again (resuming) up to ``max_restarts`` times."""
        world = self.mesh.world_size
        for attempt in range(self.max_restarts + 1):
            engine.describe(f"sparktensor HybridTrainer: {self.mesh.data} x {self.mesh.model} mesh, "
                            f"attempt {attempt + 1}")
            try:
                return engine.run_gang(train_rank, world, spec, handles, dict(settings, attempt=attempt),
                                       **self.gang)[0]
            except Exception as e:  # noqa: BLE001 - a rank's failure, whatever it was, restarts the gang
                # bad settings or data fail the same way every time: those are not retried
                if checkpoint_dir is None or attempt == self.max_restarts or isinstance(e, (ValueError, TypeError)):
                    raise
                log.warning("the gang failed (%s); starting it again from the checkpoints in %s", e, checkpoint_dir)
            finally:
                engine.describe(None)

    def _engine(self):
        if self.engine is None:
            from .spark_engine import SparkEngine
            self.engine = SparkEngine()
        if not callable(getattr(self.engine, "run_gang", None)):
            raise TypeError(f"{self.engine!r} cannot launch a gang of ranks (it has no run_gang)")
        return self.engine

    def _blocks(self, data):
        blocks = as_blocks(data)
        if blocks.num_partitions != self.mesh.data:
            blocks = blocks.repartition(self.mesh.data)
        empty = [i for i, n in enumerate(blocks.counts) if n == 0]
        if empty:
            raise ValueError(f"partitions {empty} of {blocks.num_partitions} are empty; every one of the "
                             f"{self.mesh.data} replicas needs samples (use fewer replicas or more data)")
        return blocks

    def _check_model_fits(self, blocks):
        """Run the model on two samples here: wrong shapes fail before a gang starts, with the data's shape."""
        x, _ = blocks.blocks[0]
        training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                self.model(Tensor(x[:2]))
        except Exception as e:
            raise ValueError(f"the model cannot take the data's samples, of shape {x.shape[1:]} and dtype "
                             f"{x.dtype}: {e}") from e
        finally:
            self.model.train(training)


def _has_dropout(model):
    return any(isinstance(m, Dropout) and m.p > 0 or isinstance(m, RNNBase) and m.dropout > 0
               for m in model.modules())
