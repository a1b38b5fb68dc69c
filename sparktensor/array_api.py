"""(being written)"""
__all__ = []
NUMPY_FUNCTIONS = {}  # NumPy function -> differentiable implementation, for __array_function__
