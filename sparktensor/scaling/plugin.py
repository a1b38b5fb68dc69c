"""pytest plugin (the ``pytest11`` entry point, with ``pip install 'sparktensor[bench]'``): scalability tests.

A test asks for ``scaling`` and runs once per engine and worker count chosen on the command line::

    def test_my_net_scales(scaling):
        scaling(make_model, (x, y), loss=F.cross_entropy, optimizer=lambda p: st.optim.Adam(p), tau=10)

    pytest --st-engines spark,dask --st-workers 1,2,4 --benchmark-only

At the end: a table per test and engine (throughput, speed-up, efficiency, C, S, SparkNet's projection to
larger K), the same figures in pytest-benchmark's JSON (``extra_info`` and ``"sparktensor_scaling"``), and a
PNG (``--st-plot``). See docs/scaling.md.
"""
import pytest

from .engines import ENGINES, make_engine
from .results import Group

_GROUPS = pytest.StashKey()
_PLOT = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("sparktensor", "sparktensor scalability tests (the scaling fixture)")
    group.addoption("--st-engines", default=None,
                    help=f"comma-separated engines to run scaling tests on ({', '.join(ENGINES)}; default: the "
                         "test's scaling marker, else spark)")
    group.addoption("--st-workers", default=None,
                    help="comma-separated worker counts K (default: the test's scaling marker, else 1,2)")
    group.addoption("--st-master", default=None,
                    help="Spark master of the embedded session when none is active (default local[largest K])")
    group.addoption("--st-project-to", type=int, default=64,
                    help="project the speed-up with SparkNet's model up to this K (default 64)")
    group.addoption("--st-plot", default="scaling.png",
                    help="where to draw the scaling figure (default scaling.png; empty: none)")


def pytest_configure(config):
    config.addinivalue_line("markers", "scaling(engines=None, workers=None): this test's default engines and "
                                       "worker counts for the scaling fixture (--st-engines/--st-workers win)")
    config.stash[_GROUPS] = {}
    config.stash[_PLOT] = None
    _engines(config, None), _workers(config, None)  # a bad command line stops pytest before collection


def _engines(config, marker):
    text = config.getoption("--st-engines")
    names = _split(text) if text else list((marker and marker.kwargs.get("engines")) or ["spark"])
    unknown = [n for n in names if n not in ENGINES]
    if unknown or not names:
        source = "--st-engines" if text else "the scaling marker's engines"
        raise pytest.UsageError(f"{source}: unknown engine(s) {unknown or names}: choose from "
                                f"{', '.join(ENGINES)}")
    return names


def _workers(config, marker):
    text = config.getoption("--st-workers")
    values = _split(text) if text else list((marker and marker.kwargs.get("workers")) or [1, 2])
    source = "--st-workers" if text else "the scaling marker's workers"
    try:
        ks = [int(v) for v in values]
    except ValueError:
        raise pytest.UsageError(f"{source}: expected positive integers like 1,2,4, got {values}") from None
    if not ks or any(k < 1 for k in ks):
        raise pytest.UsageError(f"{source}: worker counts must be positive integers, got {values}")
    return sorted(set(ks))


def _split(text):
    return [v.strip() for v in text.split(",") if v.strip()]


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("scaling")
    if "st_engine" in metafunc.fixturenames:
        metafunc.parametrize("st_engine", _engines(metafunc.config, marker), indirect=True, scope="session")
    if "st_workers" in metafunc.fixturenames:
        ks = _workers(metafunc.config, marker)
        metafunc.parametrize("st_workers", ks, ids=[f"K{k}" for k in ks])


def _largest_workers(session):
    ks = [item.callspec.params["st_workers"] for item in session.items
          if "st_workers" in getattr(getattr(item, "callspec", None), "params", {})]
    return max(ks, default=1)


@pytest.fixture(scope="session")
def st_engine(request):
    """The engine named by ``--st-engines`` (one per session, closed after its tests), sized for the largest K."""
    name = getattr(request, "param", "spark")
    with make_engine(name, _largest_workers(request.session), request.config.getoption("--st-master")) as engine:
        yield engine


@pytest.fixture
def st_workers(request):
    """The worker count K of this run (``--st-workers``)."""
    return getattr(request, "param", 1)


@pytest.fixture
def scaling(request, benchmark, st_engine, st_workers):
    """``scaling(model, data, loss, optimizer=None, tau=10, batch_size=32, epochs=None, rounds=None, seed=0,
    repeats=1, warmup=1, name=None)``: time ``ParameterAveraging`` of ``model`` on ``data`` with K workers on
    the engine, with pytest-benchmark; returns the ``Measurement`` (samples/s, C, S, speed-up once the
    smallest K has run). ``model``: a function returning a fresh Module; ``data``: ``(x, y)`` arrays or
    ``data(K)``; ``optimizer``: ``optimizer(parameters)``, SGD at lr 0.01 by default; ``epochs`` 1 unless
    ``rounds`` is given."""
    from .run import measure

    def run(model, data, loss, optimizer=None, tau=10, batch_size=32, epochs=None, rounds=None, seed=0,
            repeats=1, warmup=1, name=None):
        import sparktensor as st
        if optimizer is None:
            def optimizer(parameters):
                return st.optim.SGD(parameters, lr=0.01)
        if epochs is None and rounds is None:
            epochs = 1
        case = name or _case_name(request.node)
        engine_name = request.node.callspec.params["st_engine"]
        benchmark.group = benchmark.group or f"scaling: {case} on {engine_name}"
        result = measure(benchmark, case, engine_name, st_engine, st_workers, model, data, loss, optimizer, tau,
                         batch_size, epochs, rounds, seed, repeats, warmup)
        result.extra_info = benchmark.extra_info
        groups = request.config.stash[_GROUPS]
        key = (case, engine_name)
        if key not in groups:
            groups[key] = Group(case, engine_name, request.config.getoption("--st-project-to"))
        groups[key].add(result)
        return result
    return run


def _case_name(item):
    """The test's name with its parameters other than the engine and K."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    rest = ", ".join(f"{k}={v}" for k, v in params.items() if k not in ("st_engine", "st_workers"))
    return f"{item.originalname}[{rest}]" if rest else item.originalname


def pytest_sessionfinish(session):
    groups = list(session.config.stash.get(_GROUPS, {}).values())
    path = session.config.getoption("--st-plot", None)
    if groups and path:
        from .figure import draw
        session.config.stash[_PLOT] = path if draw(groups, path) else "matplotlib is not installed: no figure"


def pytest_terminal_summary(terminalreporter, config):
    groups = config.stash.get(_GROUPS, {})
    if not groups:
        return
    terminalreporter.section("sparktensor scaling")
    for group in groups.values():
        for line in group.table():
            terminalreporter.write_line(line)
        terminalreporter.write_line("")
    if config.stash.get(_PLOT, None):
        terminalreporter.write_line(f"scaling figure: {config.stash[_PLOT]}")


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Every group's figures, projection included, under ``"sparktensor_scaling"``."""
    groups = config.stash.get(_GROUPS, {})
    if groups:
        output_json["sparktensor_scaling"] = [g.figures() for g in groups.values()]
