"""``HybridTrainer`` (``trainer``): the driver side; each rank's loop (``rank``), memory cap (``memory``),
progress (``progress``) and reports to the driver (``reports``)."""
