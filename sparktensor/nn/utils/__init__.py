"""Utilities for training: gradient clipping, and padded or packed sequences (``nn.utils.rnn``)."""
from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_
