"""Utilities for training: gradient clipping."""
from .clip_grad import clip_grad_norm_
