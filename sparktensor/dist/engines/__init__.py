"""Engines: what the trainers need from a cluster (``base.Engine``), on one process (``local``), Spark
(``spark``, with its executor side in ``spark_tasks`` and its session in ``session``), Spark Connect
(``connect``) and Dask (``dask``); each with its gang launcher (``*_gang``, the rank body in ``gang``)."""
