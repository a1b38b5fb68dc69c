"""(being written)"""
__all__ = []
NUMPY_FUNCTIONS = {}  # NumPy function -> differentiable implementation, for __array_function__
NUMPY_UFUNCS = {}  # NumPy ufunc name -> differentiable implementation, for __array_ufunc__
