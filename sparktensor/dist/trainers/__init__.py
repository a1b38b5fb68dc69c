"""Trainers: data parallel (``parameter_averaging``, executor side in ``worker``) and model/hybrid parallel
(``hybrid``), with their flat weight layout, history and checkpoints."""
