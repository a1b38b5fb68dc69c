"""The Array API's linear algebra extension (2024.12), differentiable: every function of the standard, batched over
leading axes, on NumPy and CuPy data, real and complex, with PyTorch's gradients written so they can be
differentiated again (``create_graph=True``).

``tensordot``, ``vecdot`` and ``matrix_transpose`` are also top-level names (the standard puts them in both places).
``NUMPY_FUNCTIONS`` gives ``np.linalg.inv(t)`` and friends on tensors, with NumPy's signatures, keeping the graph.
"""
from ._common import EighResult, LinAlgError, QRResult, SlogdetResult, SVDResult  # noqa: F401
from .determinants import det, slogdet  # noqa: F401
from .factorizations import cholesky, qr  # noqa: F401
from .norms import matrix_norm, vector_norm  # noqa: F401
from .products import cross, diagonal, matmul, matrix_transpose, outer, tensordot, trace, vecdot  # noqa: F401
from .solvers import inv, matrix_power, matrix_rank, pinv, solve  # noqa: F401
from .spectral import eigh, eigvalsh, svd, svdvals  # noqa: F401
from .numpy_table import NUMPY_FUNCTIONS, NUMPY_UFUNCS  # noqa: F401

STANDARD_NAMES = ("cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
                  "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet", "solve", "svd",
                  "svdvals", "tensordot", "trace", "vecdot", "vector_norm")
__all__ = [*STANDARD_NAMES, "EighResult", "QRResult", "SlogdetResult", "SVDResult", "LinAlgError"]
