"""(being written)"""
__all__ = []  # the names the standard also puts at the top level (tensordot, vecdot, matrix_transpose)
NUMPY_FUNCTIONS = {}  # NumPy function -> differentiable implementation, for __array_function__
