"""``unfold`` (sliding windows to columns, im2col) and ``fold`` (columns added back into an image, col2im).

The two are adjoint: each one's backward is the other's forward on the gradient. Windows are a strided view
(N, C, kh, kw, Lh, Lw) of the zero-padded image, so unfold is one copy and fold one addition per kernel offset.
"""
from ...autograd.function import Function
from ...backend import get_array_module
from .conv import _pair
from ._grad_paths import namespace_of, run


class _Windows:
    """Sizes of the sliding windows over a (N, C, H, W) image: kernel, dilation, padding, stride, block counts."""

    def __init__(self, image, kernel, dilation, padding, stride):
        self.image, self.kernel, self.dilation, self.padding, self.stride = image, kernel, dilation, padding, stride
        self.padded = tuple(n + 2 * p for n, p in zip(image, padding))
        self.blocks = tuple((n - d * (k - 1) - 1) // s + 1
                            for n, k, d, s in zip(self.padded, kernel, dilation, stride))

    def view(self, xp, padded):
        """The (N, C, kh, kw, Lh, Lw) windows of a contiguous padded (N, C, Hp, Wp) array."""
        sn, sc, sh, sw = padded.strides
        (dh, dw), (th, tw) = self.dilation, self.stride
        shape = padded.shape[:2] + self.kernel + self.blocks
        return xp.lib.stride_tricks.as_strided(padded, shape, (sn, sc, dh * sh, dw * sw, th * sh, tw * sw))

    def inside(self, padded):
        (ph, pw), (h, w) = self.padding, self.image
        return padded[:, :, ph:ph + h, pw:pw + w]


def _unfold_array(xp, x, g):
    padded = xp.zeros(x.shape[:2] + g.padded, x.dtype)
    g.inside(padded)[...] = x
    cols = xp.ascontiguousarray(g.view(xp, padded))
    return cols.reshape(x.shape[0], -1, g.blocks[0] * g.blocks[1])


def _fold_array(xp, cols, g):
    n = cols.shape[0]
    c = cols.shape[1] // (g.kernel[0] * g.kernel[1])
    cols = cols.reshape((n, c) + g.kernel + g.blocks)
    padded = xp.zeros((n, c) + g.padded, cols.dtype)
    windows = g.view(xp, padded)
    # one kernel offset at a time: within an offset the windows never overlap, across offsets they may
    for i in range(g.kernel[0]):
        for j in range(g.kernel[1]):
            windows[:, :, i, j] += cols[:, :, i, j]
    return xp.ascontiguousarray(g.inside(padded))


class UnfoldFunction(Function):
    @staticmethod
    def forward(ctx, x, g):
        ctx.g = g
        return _unfold_array(get_array_module(x), x, g)

    @staticmethod
    def backward(ctx, gy):
        return run(FoldFunction, namespace_of(gy), gy, ctx.g), None


class FoldFunction(Function):
    @staticmethod
    def forward(ctx, cols, g):
        ctx.g = g
        return _fold_array(get_array_module(cols), cols, g)

    @staticmethod
    def backward(ctx, gy):
        return run(UnfoldFunction, namespace_of(gy), gy, ctx.g), None


def _windows(op, image, kernel_size, dilation, padding, stride):
    kernel, dilation = _pair(kernel_size, "kernel_size"), _pair(dilation, "dilation")
    padding, stride = _pair(padding, "padding"), _pair(stride, "stride")
    if min(kernel + dilation + stride) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: kernel_size {kernel}, dilation {dilation} and stride {stride} must be positive "
                         f"and padding {padding} non-negative")
    g = _Windows(image, kernel, dilation, padding, stride)
    if min(g.blocks) < 1:
        raise ValueError(f"{op}: a spatial size {image} padded by {padding} is smaller than the kernel {kernel} "
                         f"with dilation {dilation}")
    return g


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding windows of (N, C, H, W) as columns (N, C*kh*kw, L), as PyTorch's; (C, H, W) gives (C*kh*kw, L)."""
    if x.ndim not in (3, 4):
        raise ValueError(f"unfold: expected input (N, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    g = _windows("unfold", tuple(x.shape[-2:]), kernel_size, dilation, padding, stride)
    if x.ndim == 3:
        return UnfoldFunction.apply(x.reshape((1,) + tuple(x.shape)), g).reshape(-1, g.blocks[0] * g.blocks[1])
    return UnfoldFunction.apply(x, g)


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Columns (N, C*kh*kw, L) summed back into (N, C, *output_size), overlaps added, as PyTorch's ``fold``."""
    if x.ndim not in (2, 3):
        raise ValueError(f"fold: expected input (N, C*kh*kw, L) or (C*kh*kw, L), got {tuple(x.shape)}")
    g = _windows("fold", _pair(output_size, "output_size"), kernel_size, dilation, padding, stride)
    rows, length = x.shape[-2:]
    per_channel = g.kernel[0] * g.kernel[1]
    if rows % per_channel or length != g.blocks[0] * g.blocks[1]:
        raise ValueError(f"fold: input {tuple(x.shape)} needs a multiple of kh*kw = {per_channel} rows and "
                         f"{g.blocks[0]}x{g.blocks[1]} = {g.blocks[0] * g.blocks[1]} columns (the windows of "
                         f"output_size {g.image} with kernel {g.kernel}, dilation {g.dilation}, padding "
                         f"{g.padding}, stride {g.stride})")
    if x.ndim == 2:
        return FoldFunction.apply(x.reshape((1,) + tuple(x.shape)), g).reshape((-1,) + g.image)
    return FoldFunction.apply(x, g)
