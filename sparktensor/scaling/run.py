"""One timed training run for the ``scaling`` fixture: a fresh model, its data cut for K workers, averaged."""
import copy
import time

from .results import measure_history


def training_run(model, data, loss, optimizer, engine, workers, tau, batch_size, epochs, rounds, seed):
    """A function that trains a fresh ``model`` on ``data`` with ``ParameterAveraging`` and returns its History.

    ``model``: a callable returning a new Module (or a Module, copied for each run); ``data``: an ``(x, y)`` pair
    of arrays (cut by ``dist.from_numpy`` inside the run, as a user's job would) or ``data(workers)`` returning
    anything ``fit`` takes; ``optimizer``: ``optimizer(parameters)``.
    """
    import sparktensor as st
    import sparktensor.dist as dist
    if isinstance(model, st.nn.Module):
        template, model = model, (lambda: copy.deepcopy(template))
    if not callable(model):
        raise TypeError(f"model must be a Module or a function returning one, got {type(model).__name__}")
    if not callable(optimizer):
        raise TypeError(f"optimizer must be a function of the parameters (e.g. lambda p: st.optim.Adam(p)), "
                        f"got {type(optimizer).__name__}")
    if callable(data):
        cut = data
    elif isinstance(data, tuple) and len(data) == 2:
        def cut(k):
            return dist.from_numpy(data[0], data[1], partitions=k)
    else:
        raise TypeError(f"data must be an (x, y) pair of arrays or a function of the number of workers, "
                        f"got {type(data).__name__}")
    if (epochs is None) == (rounds is None):
        raise ValueError("pass exactly one of epochs= and rounds=")

    def run():
        st.manual_seed(seed)
        net = model()
        trainer = dist.ParameterAveraging(net, loss, optimizer(net.parameters()), workers=workers, tau=tau,
                                          batch_size=batch_size, engine=engine, progress=False)
        return trainer.fit(cut(workers), epochs=epochs, rounds=rounds)[1]
    return run


def timed(benchmark, run, rounds, warmup):
    """``(history, seconds)``: the median of pytest-benchmark's rounds, or the one run's wall time when
    benchmarking is disabled (``--benchmark-disable``)."""
    started = time.perf_counter()
    history = benchmark.pedantic(run, rounds=rounds, warmup_rounds=warmup)
    stats = getattr(benchmark, "stats", None)
    seconds = stats.stats.median if stats is not None else time.perf_counter() - started
    return history, seconds


def measure(benchmark, case, engine_name, engine, workers, model, data, loss, optimizer, tau, batch_size,
            epochs, rounds, seed, repeats, warmup):
    """Time ``repeats`` runs (after ``warmup``) and return their ``Measurement``."""
    run = training_run(model, data, loss, optimizer, engine, workers, tau, batch_size, epochs, rounds, seed)
    history, seconds = timed(benchmark, run, repeats, warmup)
    return measure_history(history, case, engine_name, workers, tau, batch_size, seconds)
