"""Reverse-mode automatic differentiation: ``Function``, ``backward``, ``grad``, ``gradcheck``, grad modes."""
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .function import Function
from .differentiation import backward, grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import functional

__all__ = ["Function", "backward", "grad", "gradcheck", "gradgradcheck", "GradcheckError", "functional", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "inference_mode"]
