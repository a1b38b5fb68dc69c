"""Training data: in the driver's memory (``blocks``), or built and kept on the cluster (``resident``, with the
Spark, Spark Connect and Dask sources in ``spark``, ``connect`` and ``dask``; the executor-side conversions in
``convert`` and the executors' block files in ``block_files``)."""
