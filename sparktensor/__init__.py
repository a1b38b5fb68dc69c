"""sparktensor: NumPy-style tensors with reverse-mode autodiff, neural networks, and training on Spark."""
from . import backend, dtypes
from .dtypes import (bool, cdouble, cfloat, complex64, complex128, double, float16, float32, float64,
                     get_default_dtype, half, int8, int16, int32, int64, long, set_default_dtype, short, uint8, uint16,
                     uint32, uint64)
from .tensor import GradientDroppedWarning, Tensor
from . import autograd
from .autograd import Function, enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .backend import cuda_is_available, get_array_module
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, ones,
                       ones_like, tensor, zeros, zeros_like)
from .random import Generator, manual_seed, permutation, rand, rand_like, randint, randn, randn_like
from .ops.elementwise import (abs, add, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, clip, cos, div, equal, exp, expm1, floor_divide, greater, greater_equal,
                              isfinite, isinf, isnan, less, less_equal, log, log1p, logical_and, logical_not,
                              logical_or, logical_xor, left_shift, right_shift, invert, maximum, minimum, mul, neg, not_equal, pow, relu,
                              remainder, round, sigmoid, sign, sin, sqrt, sub, tanh, where)
from .ops.reduction import (all, amax, amin, any, argmax, argmin, log_softmax, logsumexp, max, mean, min, prod, softmax, std,
                            sum, var)
from .ops.shape import (broadcast_to, cat, chunk, concat, concatenate, permute_dims, expand, expand_dims, flatten, flip, pad, permute,
                        repeat, reshape, split, squeeze, stack, swapaxes, tile, transpose, unsqueeze, view)
from .ops.indexing import getitem
from .ops.linalg import addmm, baddbmm, bmm, dot, einsum, matmul, norm, outer
from .ops.selection import argsort, cumsum, gather, index_select, masked_fill, scatter, scatter_add, sort, topk
from .ops.conversion import astype, clone
from .serialization import load, save
from .parallel import get_num_threads, set_num_threads
from . import data, nn, optim
from . import amp
from .amp import autocast, bfloat16
from .autograd.strict_dtypes import is_strict_dtypes, set_strict_dtypes, strict_dtypes
# the Array API standard's names: they come last, so where a name exists above they are its newer, wider form
from .ops.math_functions import *  # noqa: F401,F403
from .ops.array_functions import *  # noqa: F401,F403
from .array_api import *  # noqa: F401,F403
from .linalg import matrix_transpose, tensordot, vecdot  # the standard puts these at the top level too
from . import fft, linalg  # noqa: E402
from . import torch_methods  # noqa: E402,F401  (PyTorch's method names on Tensor)
from .fft import view_as_complex, view_as_real  # PyTorch's names for a complex tensor's real pairs

clamp = clip
divide = true_divide = div
multiply = mul
subtract = sub
power = pow

__version__ = "0.1.0"
