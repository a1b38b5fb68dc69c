"""Batches of sequences of different lengths, with PyTorch's names and layouts.

``pad_sequence`` stacks sequences into one padded tensor; ``pack_padded_sequence`` keeps only the real steps of a
padded batch as a ``PackedSequence``, which ``RNN``, ``LSTM`` and ``GRU`` take so that each sequence stops at its
own length; ``pad_packed_sequence`` turns one back into a padded tensor and its lengths. A ``PackedSequence``
stacks, step after step, the sequences still running at that step, longest first. Every conversion is one
differentiable gather of rows, so gradients flow through packing and padding.
"""
from collections import namedtuple

import numpy as np

from ... import creation
from ...ops.shape import concatenate
from ...tensor import Tensor

_ENFORCE_SORTED = ("pack_padded_sequence: with enforce_sorted=True the lengths must be in decreasing order, got {}; "
                   "pass enforce_sorted=False to sort the batch (it is unsorted again on the way out)")


def _inverse(order):
    """The permutation that undoes ``order``, as an int64 tensor."""
    order = _ints("sorted_indices", order)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return creation.tensor(inverse)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """A batch of sequences of different lengths without their padding, as the recurrent layers take it.

    ``data`` (sum of the lengths, *) holds the real steps: those of step 0 of every sequence, then of step 1 of
    those still running, and so on, longest sequence first within a step. ``batch_sizes`` (int64) counts the
    sequences running at each step. ``sorted_indices`` lists the batch positions by decreasing length (None when
    the batch came sorted) and ``unsorted_indices`` is its inverse. The index tensors stay on the CPU; ``to``
    moves ``data`` only.
    """

    __slots__ = ()

    def __new__(cls, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _inverse(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The same batch with ``data`` moved to a device and/or converted to a dtype."""
        return self._replace(data=self.data.to(*args, **kwargs))

    @property
    def is_cuda(self):
        """Whether ``data`` is on a GPU."""
        return self.data.device != "cpu"


def _ints(what, values):
    """A 1-D int64 NumPy array from a list, array or tensor of integers."""
    array = np.asarray(values.numpy() if isinstance(values, Tensor) else values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise TypeError(f"{what} must be a 1-D list or tensor of integers, got {array.dtype} of shape "
                        f"{array.shape}")
    return array.astype(np.int64)


def _steps_and_positions(batch_sizes, sorted_indices, batch):
    """For every row of a packed ``data``: its step and its position in the batch."""
    order = np.arange(batch) if sorted_indices is None else _ints("sorted_indices", sorted_indices)
    sizes = _ints("batch_sizes", batch_sizes)
    steps = np.repeat(np.arange(len(sizes)), sizes)
    positions = np.concatenate([order[:n] for n in sizes]) if len(sizes) else np.zeros(0, np.int64)
    return steps, positions


def _gather(data, rows, padding_value):
    """``data[rows]`` with a row of ``padding_value`` where ``rows`` is -1."""
    filler = creation.full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    return concatenate([data, filler])[np.where(rows < 0, data.shape[0], rows)]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """A ``PackedSequence`` of the first ``lengths[i]`` steps of each sequence of a padded batch.

    Args:
        input: padded sequences, (L, N, *) or (N, L, *) with ``batch_first``.
        lengths: the length of each sequence, N positive integers of at most L (a list or a tensor).
        batch_first: whether ``input`` is (N, L, *).
        enforce_sorted: require ``lengths`` in decreasing order; with False the batch is sorted here and the
            recurrent layers return their states in the original order.
    """
    lengths = _ints("pack_padded_sequence: lengths", lengths)
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must be (L, N, *) or (N, L, *) with batch_first, got shape "
                         f"{tuple(input.shape)}")
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    if len(lengths) != batch:
        raise ValueError(f"pack_padded_sequence: got {len(lengths)} lengths for a batch of {batch} sequences "
                         f"(input shape {tuple(input.shape)}, batch_first={batch_first})")
    if batch and (lengths.min() <= 0 or lengths.max() > steps):
        raise ValueError(f"pack_padded_sequence: every length must be between 1 and the {steps} steps of the input, "
                         f"got {lengths.tolist()}")
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise RuntimeError(_ENFORCE_SORTED.format(lengths.tolist()))
        sorted_indices = None
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
    descending = lengths if sorted_indices is None else lengths[sorted_indices]
    batch_sizes = (descending[None, :] > np.arange(descending[0] if batch else 0)[:, None]).sum(axis=1)
    steps_of, positions = _steps_and_positions(batch_sizes, sorted_indices, batch)
    data = input[positions, steps_of] if batch_first else input[steps_of, positions]
    return PackedSequence(data, creation.tensor(batch_sizes.astype(np.int64)),
                          None if sorted_indices is None else creation.tensor(sorted_indices))


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The padded tensor and the lengths (int64, original batch order) of a ``PackedSequence``.

    Args:
        sequence: a ``PackedSequence``.
        batch_first: return (N, L, *) instead of (L, N, *).
        padding_value: the value of the steps past each sequence's end.
        total_length: pad to this many steps instead of the longest length (not fewer).
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence takes the PackedSequence made by pack_padded_sequence or "
                        f"pack_sequence, got {type(sequence).__name__}")
    data, batch_sizes, sorted_indices, unsorted_indices = sequence
    sizes = _ints("batch_sizes", batch_sizes)
    batch, steps = (int(sizes[0]) if len(sizes) else 0), len(sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than the longest "
                             f"sequence, of {steps} steps")
        steps = total_length
    steps_of, positions = _steps_and_positions(sizes, sorted_indices, batch)
    rows = np.full((steps, batch), -1, np.int64)
    rows[steps_of, positions] = np.arange(len(steps_of))
    lengths = (rows >= 0).sum(axis=0)
    padded = _gather(data, rows.T if batch_first else rows, padding_value)
    return padded, creation.tensor(lengths.astype(np.int64))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Sequences of shapes (L_i, *) stacked into one (L, N, *) tensor, or (N, L, *) with ``batch_first``.

    Args:
        sequences: a list of tensors that agree on every axis but the first.
        batch_first: return (N, L, *) instead of (L, N, *).
        padding_value: the value of the added steps.
        padding_side: ``"right"`` pads after each sequence, ``"left"`` before it.
    """
    sequences = [s if isinstance(s, Tensor) else creation.as_tensor(s) for s in sequences]
    if not sequences:
        raise ValueError("pad_sequence: got an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    trailing = {tuple(s.shape[1:]) for s in sequences}
    if len(trailing) > 1 or any(s.ndim == 0 for s in sequences):
        raise ValueError(f"pad_sequence: the sequences must agree on every axis but the first, got shapes "
                         f"{[tuple(s.shape) for s in sequences]}")
    lengths = np.array([s.shape[0] for s in sequences])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    longest = int(lengths.max())
    step = np.arange(longest)[:, None] - (longest - lengths if padding_side == "left" else 0)
    rows = np.where((step >= 0) & (step < lengths), starts + step, -1)
    return _gather(concatenate(sequences), rows.T if batch_first else rows, padding_value)


def pack_sequence(sequences, enforce_sorted=True):
    """A ``PackedSequence`` of a list of sequences of shapes (L_i, *), longest first unless ``enforce_sorted=False``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences, each cut to its length, of a padded (L, N, *) or (N, L, *) batch."""
    lengths = _ints("unpad_sequence: lengths", lengths)
    batch = padded_sequences.shape[0 if batch_first else 1]
    if len(lengths) != batch:
        raise ValueError(f"unpad_sequence: got {len(lengths)} lengths for a batch of {batch} sequences")
    if batch_first:
        return [padded_sequences[i, :n] for i, n in enumerate(lengths.tolist())]
    return [padded_sequences[:n, i] for i, n in enumerate(lengths.tolist())]


def unpack_sequence(packed_sequences):
    """The list of sequences, in the original batch order, of a ``PackedSequence``."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def packed_like(padded, like):
    """The steps of a padded (L, N, *) batch laid out as the ``PackedSequence`` ``like`` (the recurrent layers'
    output for a packed input)."""
    steps_of, positions = _steps_and_positions(like.batch_sizes, like.sorted_indices, padded.shape[1])
    return like._replace(data=padded[steps_of, positions])
