"""The engines ``--st-engines`` names, built on first use: pyspark and dask are imported only here, lazily."""

ENGINES = ("spark", "dask", "local")


def make_engine(name, workers, master=None):
    """An engine for up to ``workers`` workers: ``"spark"`` (the active SparkSession, else an embedded one on
    ``master``, by default ``local[workers]``), ``"dask"`` (a ``LocalCluster`` of ``workers`` processes) or
    ``"local"`` (one process, partitions in turn: the reference, it does not speed up)."""
    import sparktensor.dist as dist
    if name == "local":
        return dist.LocalEngine(workers=workers)
    if name == "spark":
        _require("pyspark", "spark")
        from pyspark.sql import SparkSession
        if SparkSession.getActiveSession() is not None:
            return dist.SparkEngine()
        from sparktensor.dist.engines.session import embedded_session
        return dist.SparkEngine(embedded_session(master or f"local[{workers}]"))
    if name == "dask":
        _require("distributed", "dask")
        return dist.DaskEngine(workers=workers)
    raise ValueError(f"unknown engine {name!r}: expected one of {', '.join(ENGINES)}")


def _require(module, extra):
    import importlib.util
    if importlib.util.find_spec(module) is None:
        raise RuntimeError(f"the {extra!r} engine needs {module}: pip install 'sparktensor[{extra}]', or choose "
                           f"another with --st-engines ({', '.join(ENGINES)})")
