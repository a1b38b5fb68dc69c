"""``conv3d`` as one ``conv2d``: the kernel's depth offsets become extra input channels.

The input's depth slabs that each kernel depth offset reads, (N, C, kd, D_out, H, W), are stacked and moved to
(N*D_out, C*kd, H, W); the weight (O, C/groups, kd, kh, kw) read as (O, C/groups*kd, kh, kw) then convolves
them in 2-d. Channel c, depth offset i sits in row c*kd + i, so each group's channels stay one contiguous block
and ``groups`` carries over unchanged. The backward is that of the slicing, stacking and ``conv2d``.
"""
from ...ops.shape import pad, stack
from .conv import _pair, _padding, conv2d
from .linear import check_dtypes
from ...amp.autocast_mode import lower_precision


@lower_precision
def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-d convolution (cross-correlation) of (N, C_in, D, H, W) with weight (C_out, C_in/groups, kd, kh, kw),
    as PyTorch's."""
    if x.ndim != 5 or weight.ndim != 5:
        raise ValueError(f"conv3d: expected input (N, C, D, H, W) and a 5-d weight, got input {tuple(x.shape)} and "
                         f"weight {tuple(weight.shape)}")
    check_dtypes("conv3d", x, weight=weight, bias=bias)
    n, c = x.shape[:2]
    o, kernel = weight.shape[0], tuple(weight.shape[2:])
    if groups < 1 or c % groups or o % groups or weight.shape[1] * groups != c:
        raise ValueError(f"conv3d: input {tuple(x.shape)} has {c} channels; weight {tuple(weight.shape)} with "
                         f"groups={groups} expects {weight.shape[1] * groups} (in and out channels both divisible "
                         f"by groups)")
    stride, dilation = _pair(stride, "stride", 3), _pair(dilation, "dilation", 3)
    pads = _padding(padding, kernel, stride, dilation, "conv3d")
    if min(stride + dilation) < 1 or min(min(pads)) < 0:
        raise ValueError(f"conv3d: stride {stride} and dilation {dilation} must be positive and padding {padding} "
                         f"non-negative")
    for size, (a, b), d, k in zip(x.shape[2:], pads, dilation, kernel):
        if size + a + b < d * (k - 1) + 1:
            raise ValueError(f"conv3d: input {tuple(x.shape)} padded by {pads} is smaller than the kernel {kernel} "
                             f"with dilation {dilation}")
    if any(a or b for a, b in pads):
        x = pad(x, [(0, 0), (0, 0)] + list(pads))
    depth, height, width = x.shape[2:]
    (kd, sd, dd) = kernel[0], stride[0], dilation[0]
    d_out = (depth - dd * (kd - 1) - 1) // sd + 1
    slabs = [x[:, :, i * dd:i * dd + sd * (d_out - 1) + 1:sd] for i in range(kd)]
    planes = stack(slabs, axis=2).permute(0, 3, 1, 2, 4, 5).reshape(n * d_out, c * kd, height, width)
    y = conv2d(planes, weight.reshape(o, weight.shape[1] * kd, kernel[1], kernel[2]), bias, stride[1:], 0,
               dilation[1:], groups)
    return y.reshape((n, d_out, o) + tuple(y.shape[2:])).permute(0, 2, 1, 3, 4)
