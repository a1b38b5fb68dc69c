"""``conv_transpose1d``/``2d``, ``interpolate`` (nearest, linear, bilinear) and ``pixel_shuffle``, built from
convolution, padding and indexing, whose backwards they reuse."""
import math

import numpy as np

from ... import creation
from ...ops.shape import flip, pad
from .conv import conv1d, conv2d
from ...amp.autocast_mode import lower_precision

__all__ = ["conv_transpose1d", "conv_transpose2d", "interpolate", "pixel_shuffle", "pixel_unshuffle"]


def _tuple(v, n, name):
    v = (v,) * n if isinstance(v, int) else tuple(v)
    if len(v) != n:
        raise ValueError(f"{name} must be an int or {n} ints, got {v}")
    return v


def _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, spatial, conv):
    name = f"conv_transpose{spatial}d"
    stride, padding, output_padding, dilation = (_tuple(v, spatial, n) for v, n in (
        (stride, "stride"), (padding, "padding"), (output_padding, "output_padding"), (dilation, "dilation")))
    if x.ndim != spatial + 2 or x.shape[1] != weight.shape[0]:
        raise ValueError(f"{name}: expected input (N, {weight.shape[0]}, ...) with {spatial} spatial axes for "
                         f"weight {tuple(weight.shape)}, got {tuple(x.shape)}")
    if any(op >= max(s, d) for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{name}: output_padding {output_padding} must be smaller than stride {stride} or "
                         f"dilation {dilation}")
    kernel = weight.shape[2:]
    # a transposed convolution is a convolution of the input spread out by the stride (zeros between the
    # entries), padded by dilation * (kernel - 1) - padding, with the kernel flipped and in/out swapped
    for i, s in enumerate(stride):
        axis = 2 + i
        if s > 1:
            n = x.shape[axis]
            x = pad(x.unsqueeze(axis + 1), [(0, 0)] * (axis + 1) + [(0, s - 1)] + [(0, 0)] * (x.ndim - axis - 1))
            x = x.reshape(tuple(x.shape[:axis]) + (n * s,) + tuple(x.shape[axis + 2:]))
            x = x[(slice(None),) * axis + (slice(0, (n - 1) * s + 1),)]
    widths, crops = [(0, 0), (0, 0)], [slice(None), slice(None)]
    for k, p, op, d, n in zip(kernel, padding, output_padding, dilation, x.shape[2:]):
        lo, hi = d * (k - 1) - p, d * (k - 1) - p + op
        widths.append((max(lo, 0), max(hi, 0)))
        crops.append(slice(max(-lo, 0), n - max(-hi, 0)))
    x = pad(x[tuple(crops)], widths)
    cin, cout_g = weight.shape[:2]
    w = flip(weight, tuple(range(2, weight.ndim)))
    w = w.reshape((groups, cin // groups, cout_g) + tuple(kernel)).swapaxes(1, 2)
    w = w.reshape((groups * cout_g, cin // groups) + tuple(kernel))
    return conv(x, w, bias, 1, 0, dilation, groups)


@lower_precision
def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-d convolution of (N, C_in, L) with weight (C_in, C_out/groups, k), as PyTorch's."""
    return _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, 1, conv1d)


@lower_precision
def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-d convolution of (N, C_in, H, W) with weight (C_in, C_out/groups, kh, kw), as PyTorch's."""
    return _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, 2, conv2d)


def _take(x, axis, index):
    return x[(slice(None),) * axis + (creation.tensor(index, device=x.device),)]


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Resize the spatial axes of (N, C, L) or (N, C, H, W): ``mode`` ``"nearest"``, ``"linear"`` (3-D) or
    ``"bilinear"`` (4-D), with PyTorch's sampling positions (``align_corners`` for the linear modes)."""
    spatial = x.ndim - 2
    modes = {"nearest": (1, 2), "linear": (1,), "bilinear": (2,)}
    if mode not in modes or spatial not in modes[mode]:
        raise ValueError(f"interpolate: mode {mode!r} on input of shape {tuple(x.shape)} is not supported; use "
                         f"'nearest' (3-D or 4-D input), 'linear' (3-D) or 'bilinear' (4-D)")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to the linear modes")
    ins = x.shape[2:]
    if size is not None:
        outs, scales = _tuple(size, spatial, "size"), [None] * spatial
    else:
        scales = _tuple(scale_factor, spatial, "scale_factor") if not isinstance(scale_factor, (int, float)) \
            else (scale_factor,) * spatial
        outs = tuple(int(math.floor(n * s)) for n, s in zip(ins, scales))
    for i, (n_in, n_out, s) in enumerate(zip(ins, outs, scales)):
        axis = 2 + i
        # the step between output and input positions: 1/scale_factor when given, as PyTorch's
        step = n_in / n_out if s is None else 1.0 / s
        dst = np.arange(n_out, dtype=np.float64)
        if mode == "nearest":
            x = _take(x, axis, np.minimum(np.floor(dst * step).astype(np.int64), n_in - 1))
            continue
        if align_corners:
            src = dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        else:
            src = np.maximum((dst + 0.5) * step - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        shape = (n_out,) + (1,) * (x.ndim - axis - 1)
        lam = creation.tensor((src - lo).reshape(shape), dtype=x.dtype, device=x.device)
        x = _take(x, axis, lo) * (1 - lam) + _take(x, axis, hi) * lam
    return x


def pixel_shuffle(x, upscale_factor):
    """(*, C * r**2, H, W) to (*, C, H * r, W * r)."""
    r = upscale_factor
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: channels ({c}) of input {tuple(x.shape)} must be divisible by "
                         f"upscale_factor**2 = {r * r}")
    n = len(lead)
    y = x.reshape(tuple(lead) + (c // (r * r), r, r, h, w))
    y = y.permute(tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2))
    return y.reshape(tuple(lead) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(x, downscale_factor):
    """(*, C, H * r, W * r) to (*, C * r**2, H, W), the inverse of ``pixel_shuffle``."""
    r = downscale_factor
    *lead, c, h, w = x.shape
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle: height and width of input {tuple(x.shape)} must be divisible by "
                         f"downscale_factor = {r}")
    n = len(lead)
    y = x.reshape(tuple(lead) + (c, h // r, r, w // r, r))
    y = y.permute(tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3))
    return y.reshape(tuple(lead) + (c * r * r, h // r, w // r))
