"""Fashion-MNIST (and MNIST): the four IDX files, gzip-compressed or not, read into NumPy arrays."""
import gzip
import pathlib
import zlib

import numpy as np

from ._missing import missing

DEFAULT_ROOT = pathlib.Path("/usr/share/datasets/fashion-mnist")
INSTALL_COMMAND = "apt-get update && apt-get install -y dataset-fashion-mnist"
SPLITS = {"train": "train", "test": "t10k"}
# IDX type codes (third byte of the magic number) and their big-endian dtypes
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """The array stored in an IDX file (``.gz`` is decompressed); a corrupt or truncated file raises naming it."""
    path = pathlib.Path(path)
    raw = path.read_bytes()
    try:
        raw = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a readable gzip file ({e}); the file is corrupt or truncated, "
                         f"reinstall the data set") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: bad IDX magic number {raw[:4].hex() or '(empty file)'}; expected 0000TTNN with "
                         f"type TT in {sorted(f'{t:02x}' for t in IDX_DTYPES)}; the file is corrupt or not IDX")
    ndim, dtype = raw[3], np.dtype(IDX_DTYPES[raw[2]])
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, the {ndim}-d header needs {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX size mismatch: shape {shape} of {dtype.name} needs {expected} bytes, "
                         f"it holds {len(raw)}; the file is corrupt or truncated, reinstall the data set")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_file(root, name):
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.is_file():
            return candidate
    raise missing(f"{name}.gz (or {name})", root, INSTALL_COMMAND,
                  "pass root= a directory holding the four IDX files (MNIST works too)")


def load_fashion_mnist(root=None, split="train", normalize=False):
    """``(images, labels)`` of one split as NumPy arrays: uint8 (N, 28, 28) images and int64 labels.

    Args:
        root: directory of the four IDX files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
            ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, or the same names without ``.gz``);
            default ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``). Point it at a
            directory of the MNIST files to load MNIST.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        normalize: return float32 images scaled to [0, 1] instead of uint8.
    """
    if split not in SPLITS:
        raise ValueError(f"load_fashion_mnist: split must be one of {sorted(SPLITS)}, got {split!r}")
    root = DEFAULT_ROOT if root is None else pathlib.Path(root).expanduser()
    image_file = _idx_file(root, f"{SPLITS[split]}-images-idx3-ubyte")
    label_file = _idx_file(root, f"{SPLITS[split]}-labels-idx1-ubyte")
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{image_file} holds shape {images.shape} and {label_file} shape {labels.shape}; "
                         f"expected (N, H, W) images and N labels")
    if normalize:
        images = images.astype(np.float32) / np.float32(255)
    return images, labels.astype(np.int64)
