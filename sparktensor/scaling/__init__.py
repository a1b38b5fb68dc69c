"""Scalability tests of a user's network: SparkNet's speed-up model, the measurements and the pytest plugin.

The plugin (``sparktensor.scaling.plugin``, registered as a ``pytest11`` entry point) gives the fixtures
``st_engine``, ``st_workers`` and ``scaling``; see docs/scaling.md. Nothing here imports pyspark or dask until
an engine that needs it is built.
"""
from .results import Group, Measurement, measure_history
from .sparknet import communication_at, projection, sparknet_speedup

__all__ = ["Group", "Measurement", "communication_at", "measure_history", "projection", "sparknet_speedup"]
