"""scikit-learn's bundled handwritten digits (1,797 8x8 images)."""
import numpy as np

from ._missing import missing

INSTALL_COMMAND = "pip install scikit-learn"


def load_digits(normalize=False):
    """``(images, labels)`` as NumPy arrays: float32 (1797, 8, 8) images in [0, 16] ([0, 1] with ``normalize``)."""
    try:
        from sklearn import datasets
    except ImportError as e:
        raise missing("scikit-learn (which bundles the digits)", "this Python environment", INSTALL_COMMAND) from e
    digits = datasets.load_digits()
    images = digits.images.astype(np.float32)
    if normalize:
        images /= np.float32(16)
    return images, digits.target.astype(np.int64)
