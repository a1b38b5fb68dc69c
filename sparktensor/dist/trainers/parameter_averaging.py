"""Data-parallel trainers: ``ParameterAveraging`` (SparkNet) and ``SynchronousSGD`` (gradients every step).

A round of ``ParameterAveraging``:

1. the driver flattens the weights (and the optimizer state) into one buffer and broadcasts it;
2. every worker loads it into its cached replica of the model and runs ``tau`` SGD steps on its partition;
3. the workers' buffers, each multiplied by the samples it trained on, are summed in a fixed tree;
4. the driver divides by the total samples and loads the average into the model and optimizer.

A round's result is a function of the broadcast buffer, the data, the seed and the round number only: a
retried task, a rerun with the same seed and a run resumed from a checkpoint all give the same bits.
"""
import logging
import math
import time
import uuid

import numpy as np

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from . import checkpoint as ckpt
from . import worker
from ..data.blocks import steps_per_epoch
from .flat import FlatLayout
from .history import History
from .inputs import as_blocks
from .multi_input import describe_inputs, input_spec
from .schedule import check_scheduler, hyperparameters, step_after_round, steps_ahead
from .shipping import ship
from ..data.resident import check_labels_fit

log = logging.getLogger("sparktensor.dist")

_STATE_CHOICES = ("average", "reset")


class ParameterAveraging:
    """Train ``model`` with SparkNet's parameter averaging on ``workers`` partitions of the data.

    Args:
        model: an ``nn.Module``. It is pickled once per ``fit`` (cloudpickle on Spark) and rebuilt once in each
            worker process; the trained weights are loaded back into this object.
        loss: ``loss(output, target)``, a scalar averaged over the batch (e.g. ``F.cross_entropy``).
        optimizer: an optimizer over ``model.parameters()``; its type and hyperparameters run on the workers,
            and hyperparameter changes between rounds (a schedule stepped in ``callback``) reach them.
        workers: partitions, one local model each (default: the engine's parallelism).
        tau: local steps per round (SparkNet used 10 to 50); ``tau=1`` with plain SGD is synchronous SGD.
        batch_size: samples per local step on each worker (the global batch is ``workers * batch_size``).
        seed: fixes batch orders and dropout masks: same seed and data, same bits.
        engine: ``SparkEngine`` (default, the active or an embedded session), ``DaskEngine`` or ``LocalEngine``.
        optimizer_state: ``"average"`` (default): momentum buffers, Adam moments and step counts are averaged
            across workers like the weights, and every round continues from the average. ``"reset"``: each
            round starts the local optimizers afresh (momentum and Adam's bias correction start over).
        shuffle: a new order of each partition every local epoch (else the stored order).
        eval_batch_size: batch size of evaluation.
        progress: show a tqdm progress bar over rounds.
        scheduler: a learning-rate schedule of ``optimizer`` (``optim.lr_scheduler``), stepped on the driver;
            the workers get the learning rates (and momenta) it sets. Saved in checkpoints and resumed.
        scheduler_step: ``"round"`` (default): ``scheduler.step()`` once after each round (``ReduceLROnPlateau``
            gets the round's ``eval_loss``, or its training loss on rounds without evaluation). ``"step"``: once
            per local step, so each of a round's ``tau`` steps trains at its own learning rate, as in one process.
    """

    def __init__(self, model, loss, optimizer, workers=None, tau=10, batch_size=32, seed=0, engine=None,
                 optimizer_state="average", shuffle=True, eval_batch_size=1024, progress=True, scheduler=None,
                 scheduler_step="round"):
        if optimizer_state not in _STATE_CHOICES:
            raise ValueError(f"optimizer_state must be one of {_STATE_CHOICES}, got {optimizer_state!r}")
        for name, value in (("tau", tau), ("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if workers is not None and (not isinstance(workers, (int, np.integer)) or workers < 1):
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        own = {id(p) for p in model.parameters()}
        if not all(id(p) in own for g in optimizer.param_groups for p in g["params"]):
            raise ValueError("the optimizer holds parameters that are not the model's; build it from "
                             "model.parameters()")
        check_scheduler(scheduler, optimizer, scheduler_step)
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.scheduler, self.scheduler_step = scheduler, scheduler_step
        self.workers, self.tau, self.batch_size, self.seed = workers, int(tau), int(batch_size), int(seed)
        self.engine = engine
        self.optimizer_state, self.shuffle = optimizer_state, bool(shuffle)
        self.eval_batch_size, self.progress = int(eval_batch_size), progress
        self._crash = None  # test hook: (round index, partition) whose first task attempt kills its worker

    # ----- public -----
    def fit(self, data, epochs=None, rounds=None, eval_data=None, eval_every=1, checkpoint_dir=None,
            checkpoint_every=1, resume=False, callback=None):
        """Train; returns ``(model, history)``.

        Args:
            data: ``dist.Blocks`` (``from_numpy``, ``from_rdd``, ``from_dataframe``), an ``(x, y)`` pair of arrays
                (``x`` a tuple of arrays for a model called as ``model(x1, x2, ...)``), a ``DataLoader`` or
                ``Dataset`` of ``(x, y)`` samples (read once on the driver), or an RDD of pairs; split into one
                partition per worker unless it has that many already.
            epochs: passes over the largest partition (each worker sees its whole partition once per epoch).
            rounds: the number of rounds instead (``tau`` local steps each); the total, counting resumed ones.
            eval_data: data to report loss and accuracy on (same forms as ``data``).
            eval_every: evaluate every this many rounds (and after the last).
            checkpoint_dir: write a checkpoint every ``checkpoint_every`` rounds (and after the last) there.
            resume: continue from the latest checkpoint in ``checkpoint_dir`` (from scratch if there is none);
                the trainer's settings and the data's partition sizes must match the checkpoint's.
            callback: ``callback(round_record)`` after each round (after ``scheduler`` has stepped).
        """
        if (epochs is None) == (rounds is None):
            raise ValueError("pass exactly one of epochs= and rounds=")
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir=")
        engine = self._engine()
        workers = int(self.workers or engine.workers)
        blocks = self._blocks(data, workers)
        eval_blocks = None if eval_data is None else self._blocks(eval_data, workers)
        _check_same_inputs(blocks, eval_blocks)
        per_epoch = steps_per_epoch(blocks.counts, self.batch_size)
        total = int(rounds) if rounds is not None else math.ceil(epochs * per_epoch / self.tau)
        self._check_model_fits(blocks)
        if eval_blocks is not None:  # before any round runs or checkpoint is written
            self._check_model_fits(eval_blocks, what="evaluation data: ")
        settings = self._settings(blocks)
        history, done, last_checkpoint = History(), 0, None
        if checkpoint_dir is not None and not resume:
            ckpt.set_aside(checkpoint_dir)  # a fresh run: an earlier run's rounds must not be pruned into or resumed
        if resume:
            path, state = ckpt.latest_checkpoint(checkpoint_dir)
            if state is not None:
                _check_same_settings(path, state["settings"], settings)
                done = ckpt.restore(state, self.model, self.optimizer, self.scheduler)
                history, last_checkpoint = History(state["history"]), path
                log.info("resuming from %s after round %d", path, done)
        run = _Run(self, engine, blocks, eval_blocks, total, per_epoch)
        bar = self._progress_bar(total, done)
        try:
            for r in range(done, total):
                engine.describe(f"sparktensor {type(self).__name__}: round {r + 1}/{total}, {workers} workers, "
                                f"tau {self.tau}")
                try:
                    record = self._round(run, r)
                except FloatingPointError as e:
                    kept = f"; the last checkpoint, {last_checkpoint}, is intact" if last_checkpoint else ""
                    raise FloatingPointError(f"{e}; training stopped, the model keeps the weights of round {r}"
                                             f"{kept}") from None
                if eval_blocks is not None and ((r + 1) % eval_every == 0 or r + 1 == total):
                    record.update(self._evaluate(run, run.eval_placed))
                history.append(record)
                if self.scheduler_step == "round":
                    step_after_round(self.scheduler, record)
                if checkpoint_dir is not None and ((r + 1) % checkpoint_every == 0 or r + 1 == total):
                    last_checkpoint = ckpt.save_checkpoint(checkpoint_dir, r + 1, self.model, self.optimizer,
                                                           history, settings, scheduler=self.scheduler)
                self._report(bar, record)
                if callback is not None:
                    callback(record)
        finally:
            engine.describe(None)
            run.close()
            if bar is not None:
                bar.close()
        return self.model, history

    def evaluate(self, data):
        """``{"eval_loss", "accuracy"}`` of the model on ``data`` (accuracy None for non-class labels)."""
        engine = self._engine()
        blocks = self._blocks(data, int(self.workers or engine.workers))
        run = _Run(self, engine, None, blocks, 0, 1)
        try:
            return self._evaluate(run, run.eval_placed)
        finally:
            run.close()

    # ----- one round -----
    def _layout(self):
        return FlatLayout(self.model, self.optimizer)

    def _round(self, run, r):
        """One round of parameter averaging; returns its history record."""
        keep_state = self.optimizer_state == "average"
        start = time.perf_counter()
        flat = run.layout.flatten(self.model, self.optimizer if run.has_state else None)
        settings = dict(run.settings, round=r, has_state=run.has_state, keep_state=keep_state,
                        groups=hyperparameters(self.optimizer), fail=self._crash_partition(r))
        if self.scheduler_step == "step" and self.scheduler is not None:
            settings["step_groups"] = steps_ahead(self.scheduler, self.tau, hyperparameters)
        result = run.map_reduce(worker.train, flat, settings)
        average = self._average(result, r, run)
        run.layout.unflatten(average, self.model, self.optimizer if keep_state else None)
        run.has_state = keep_state
        return run.record(r, result, time.perf_counter() - start)

    def _average(self, result, r, run):
        """The sum of a round divided by its samples, or a FloatingPointError naming the round and partitions."""
        if result["samples"] == 0:
            raise RuntimeError(f"round {r + 1}: no worker trained on any sample")
        with np.errstate(over="ignore", invalid="ignore"):
            average = result["sum"] / result["sum"].dtype.type(result["samples"])
        loss = result["loss"] / result["samples"]
        if result["bad"] or not math.isfinite(loss) or not np.isfinite(average).all():
            where = (f"partition(s) {sorted(result['bad'])} of {run.workers}" if result["bad"] else
                     f"no single partition (the {run.workers} partitions' sum overflowed)")
            raise FloatingPointError(f"round {r + 1}: non-finite training loss ({loss:.4g}) or averaged weights, "
                                     f"from {where}; lower the learning rate or check the data's scale")
        return average

    def _evaluate(self, run, placed):
        weights = run.layout.flatten(self.model)
        result = run.map_reduce(worker.evaluate, weights, dict(run.settings, batch_size=self.eval_batch_size),
                                placed=placed)
        accuracy = None if result["correct"] is None else result["correct"] / max(1, result["labels"])
        return {"eval_loss": result["loss"] / max(1, result["samples"]), "accuracy": accuracy}

    def _crash_partition(self, r):
        return self._crash[1] if self._crash is not None and self._crash[0] == r else None

    # ----- helpers -----
    def _engine(self):
        if self.engine is None:
            try:
                from ..engines.spark import SparkEngine
                self.engine = SparkEngine()
            except ImportError as e:
                raise ImportError(f"training on Spark needs pyspark ({e}): pip install 'sparktensor[spark]', or "
                                  f"pass engine=dist.LocalEngine() to train in this process") from e
        return self.engine

    @staticmethod
    def _blocks(data, workers):
        blocks = as_blocks(data)
        if blocks.num_partitions != workers:
            blocks = blocks.repartition(workers)
        empty = [i for i, n in enumerate(blocks.counts) if n == 0]
        if empty:
            log.warning("partitions %s of %d are empty: their workers sit out every round", empty, workers)
        return blocks

    def _settings(self, blocks):
        """What a checkpoint must agree with to be resumed (plain values)."""
        settings = {"trainer": type(self).__name__, "workers": blocks.num_partitions, "tau": self.tau,
                    "batch_size": self.batch_size, "seed": self.seed, "shuffle": self.shuffle,
                    "optimizer_state": self.optimizer_state, "optimizer": type(self.optimizer).__name__,
                    "counts": list(blocks.counts)}
        if self.scheduler is not None:  # only then: checkpoints of runs without one resume as before
            settings.update(scheduler=type(self.scheduler).__name__, scheduler_step=self.scheduler_step)
        return settings

    def _check_model_fits(self, blocks, what=""):
        """Run the model and the loss on two samples on the driver: wrong shapes, labels of a dtype the loss
        refuses and out-of-range labels fail here, named (``what`` prefixes the message, e.g. the evaluation
        data's)."""
        x, y = blocks.head
        xs = x if isinstance(x, tuple) else (x,)
        training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                out = self.model(*(Tensor(a) for a in xs))
        except Exception as e:
            raise ValueError(f"{what}the model cannot take the data's {describe_inputs(xs)}: {e}") from e
        finally:
            self.model.train(training)
        if y.dtype.kind not in "iu":
            try:
                with no_grad():
                    self.loss(out, Tensor(y))
            except TypeError as e:  # e.g. float labels for a classification loss
                first = next(i for i, n in enumerate(blocks.counts) if n)
                raise TypeError(f"{what}partition {first} has labels of dtype {y.dtype}, which the loss refuses: "
                                f"{e}") from None
            except Exception:  # noqa: BLE001 - anything else the workers report with a whole batch
                pass
            return
        if worker.count_correct(out.data, y) is None:
            return
        try:
            check_labels_fit(blocks, out.shape[1] if out.shape[:1] + out.shape[2:] == y.shape else out.shape[-1])
        except ValueError as e:
            raise ValueError(f"{what}{e}") from None

    def _progress_bar(self, total, done):
        if not self.progress:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None
        return tqdm(total=total, initial=done, unit="round", desc=type(self).__name__, dynamic_ncols=True)

    @staticmethod
    def _report(bar, record):
        shown = {"loss": f"{record['loss']:.4f}", "samples/s": f"{record['samples_per_second']:.0f}"}
        if record.get("accuracy") is not None:
            shown["acc"] = f"{record['accuracy']:.4f}"
        if bar is not None:
            bar.set_postfix(shown, refresh=False)
            bar.update(1)
        log.info("round %d: %s", record["round"], ", ".join(f"{k} {v}" for k, v in shown.items()))


class SynchronousSGD(ParameterAveraging):
    """Synchronous data-parallel SGD: every step, the workers' gradients are averaged and the driver steps.

    Each step is one job: broadcast the weights, each worker computes the gradient of ``batch_size`` samples
    of its partition, the gradients (times their samples) are summed in a tree, and the driver's optimizer
    steps on their average. ``K`` workers at ``batch_size=b`` train as one process at batch ``K * b`` does.
    Batch norm statistics are averaged across workers. Arguments as ``ParameterAveraging`` (``tau`` is 1:
    a "round" is one step).
    """

    def __init__(self, model, loss, optimizer, workers=None, batch_size=32, seed=0, engine=None, shuffle=True,
                 eval_batch_size=1024, progress=True, scheduler=None, scheduler_step="round"):
        super().__init__(model, loss, optimizer, workers=workers, tau=1, batch_size=batch_size, seed=seed,
                         engine=engine, shuffle=shuffle, eval_batch_size=eval_batch_size, progress=progress,
                         scheduler=scheduler, scheduler_step=scheduler_step)

    def _layout(self):
        return FlatLayout(self.model)  # the optimizer stays on the driver

    def _round(self, run, r):
        start = time.perf_counter()
        flat = run.layout.flatten(self.model)
        result = run.map_reduce(worker.gradients, flat, dict(run.settings, round=r, fail=self._crash_partition(r)))
        average = self._average(result, r, run)
        run.layout.set_grads(average, self.model)
        self.optimizer.step()
        self.optimizer.zero_grad()
        if self.scheduler_step == "step" and self.scheduler is not None:  # a round is one step here
            self.scheduler.step()
        return run.record(r, result, time.perf_counter() - start)


class _Run:
    """The state of one ``fit`` or ``evaluate``: placed data, the shipped model, the flat layout."""

    def __init__(self, trainer, engine, blocks, eval_blocks, total, per_epoch):
        self.trainer, self.engine, self.total, self.per_epoch = trainer, engine, total, per_epoch
        self.layout = trainer._layout()
        self.job = uuid.uuid4().hex
        self.placed = self.eval_placed = self.spec = None
        self.workers = (blocks if blocks is not None else eval_blocks).num_partitions
        self.samples = len(blocks) if blocks is not None else 0
        params = [p for g in trainer.optimizer.param_groups for p in g["params"]]
        self.has_state = trainer.optimizer_state == "average" and any(trainer.optimizer.state.get(p) for p in params)
        try:
            self.spec = ship(engine, (trainer.model, trainer.optimizer, trainer.loss, self.layout),
                             ("model", "optimizer", "loss", "layout"))
            self.placed = engine.place(blocks) if blocks is not None else None
            self.eval_placed = engine.place(eval_blocks) if eval_blocks is not None else None
        except BaseException:
            self.close()
            raise
        self.settings = {"spec": self.spec, "tau": trainer.tau, "batch_size": trainer.batch_size,
                         "seed": trainer.seed, "shuffle": trainer.shuffle,
                         "input_spec": input_spec(blocks if blocks is not None else eval_blocks)}

    def map_reduce(self, fn, flat, settings, placed=None):
        weights = self.engine.broadcast(flat)
        try:
            return self.engine.map_reduce(placed or self.placed, fn, (self.job, weights, settings), worker.combine)
        finally:
            self.engine.unbroadcast(weights)

    def record(self, r, result, seconds):
        compute = result["compute"]
        return {"round": r + 1, "epoch": (r + 1) * self.trainer.tau / self.per_epoch,
                "loss": result["loss"] / result["samples"], "samples": result["samples"], "seconds": seconds,
                "compute_seconds": compute, "communication_seconds": max(0.0, seconds - compute),
                "samples_per_second": result["samples"] / seconds if seconds > 0 else float("inf"),
                "model_builds": result["builds"]}

    def close(self):
        for placed in (self.placed, self.eval_placed):
            if placed is not None:
                self.engine.release(placed)
        if self.spec is not None:
            self.engine.unbroadcast(self.spec)
        self.engine.forget(self.job)
        self.placed = self.eval_placed = self.spec = None


def _check_same_inputs(blocks, eval_blocks):
    """Training and evaluation data must give the model the same number of inputs."""
    if eval_blocks is not None and input_spec(blocks) != input_spec(eval_blocks):
        what = lambda b: f"{len(input_spec(b))} inputs" if input_spec(b) else "one input"
        raise ValueError(f"the training data has {what(blocks)}, eval_data {what(eval_blocks)}; give both the "
                         f"same inputs (a tuple x in from_numpy for several)")


def _check_same_settings(path, saved, current):
    saved = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in saved.items()}
    different = [f"{k}: checkpoint {saved.get(k)!r}, now {v!r}" for k, v in current.items() if saved.get(k) != v]
    if different:
        raise ValueError(f"cannot resume from {path}: its run had other settings ({'; '.join(different)}); "
                         f"resuming would not continue the same run. Use another checkpoint_dir to start afresh")
