"""Smooth activations of PyTorch's: ``softplus``, ``logsigmoid``, ``softsign``, ``selu``, ``celu``,
``tanhshrink`` and ``glu``, computed without overflow for large ``|x|`` (in values and in gradients)."""
from ...ops import elementwise as E, shape as S
from .activation import _maybe_inplace, elu

__all__ = ["softplus", "logsigmoid", "softsign", "selu", "celu", "tanhshrink", "glu"]

# SELU's constants (Klambauer et al., 2017), as PyTorch spells them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _log1p_exp(z):
    """``log(1 + exp(z))`` as ``max(z, 0) + log1p(exp(-|z|))``: no overflow for large ``z``."""
    return E.add(E.relu(z), E.log1p(E.exp(E.neg(E.abs(z)))))


def softplus(x, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``."""
    z = E.mul(x, beta)
    return E.where(E.greater(z, threshold), x, E.div(_log1p_exp(z), beta))


def logsigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return E.neg(_log1p_exp(E.neg(x)))


def softsign(x):
    """``x / (1 + |x|)``."""
    return E.div(x, E.add(E.abs(x), 1.0))


def selu(x, inplace=False):
    """``scale * elu(x, alpha)`` with the self-normalizing constants."""
    return _maybe_inplace(x, inplace, "selu", lambda t: E.mul(elu(t, SELU_ALPHA), SELU_SCALE))


def celu(x, alpha=1.0, inplace=False):
    """``x`` where positive, ``alpha * (exp(x / alpha) - 1)`` elsewhere."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _maybe_inplace(x, inplace, "celu", lambda t: E.mul(elu(E.div(t, alpha), 1.0), alpha))


def tanhshrink(x):
    """``x - tanh(x)``."""
    return E.sub(x, E.tanh(x))


def glu(x, dim=-1):
    """The gated linear unit: ``a * sigmoid(b)`` of the two halves ``a``, ``b`` of ``x`` along ``dim``."""
    size = x.shape[dim] if x.ndim else 0
    if size % 2:
        raise ValueError(f"glu: dim {dim} of shape {tuple(x.shape)} has odd size {size}; it must split in halves")
    a, b = S.chunk(x, 2, dim)
    return E.mul(a, E.sigmoid(b))
