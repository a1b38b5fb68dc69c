"""Recurrent layers as whole-sequence ops: ``lstm_layer``, ``gru_layer``, ``rnn_layer`` and their one-step cells.

Each layer (one direction) is a single graph node, so any sequence length costs
the autograd engine one node. Forward runs the time loop over raw arrays: the
input projection of all steps is one matrix product, each step adds one
``h @ W_hh^T`` product and a fused cell update written into preallocated buffers
(reused between calls). Backward runs backpropagation through time over the
saved gate activations and then gets every weight gradient from one product
over all steps. Gate order and formulas are PyTorch's: LSTM (i, f, g, o), GRU
(r, z, n) with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``. The LSTM's
loop (feature-major, see ``_lstm_kernel``) has a file of its own; the buffers and
step order all layers share are in ``_rnn_buffers``.

Given per-sequence ``lengths`` (a padded batch), a sequence's state is held
from its last real step on: the steps past its end change nothing and get no
gradient, so a reverse direction starts at its last real step.
"""
import functools

import numpy as np

from ...backend import get_array_module
from ...creation import zeros
from ...ops.elementwise import relu, sigmoid, tanh, where
from ...ops.shape import stack
from ._grad_paths import KeepsIntermediates, RecomputedGradient, namespace_of, recording, spread
from ._lstm_kernel import lstm_backward, lstm_forward
from ._rnn_buffers import _hold, _idle_rows, _no_gate_grad, _order, _pass_back, _scratch, _unpack  # noqa: F401
from .linear import check_dtypes
from ...amp.autocast_mode import lower_precision


def _sigmoid_(a):
    """Sigmoid in place, by the tanh form, which never overflows."""
    a *= 0.5
    get_array_module(a).tanh(a, out=a)
    a *= 0.5
    a += 0.5


def _project(x, w_ih, *biases):
    """``x @ W_ih^T + biases`` for all steps at once: (L, N, in) -> (L, N, G*H)."""
    steps, batch = x.shape[:2]
    xp = get_array_module(x)
    a = _scratch.empty(xp, (steps, batch, w_ih.shape[0]), x.dtype)
    xp.matmul(x.reshape(steps * batch, x.shape[2]), w_ih.T, out=a.reshape(steps * batch, w_ih.shape[0]))
    biases = [b for b in biases if b is not None]
    if biases:
        a += sum(biases[1:], biases[0])  # one pass over the (L, N, G*H) result
    return a


def _transposed(w, steps):
    """``w.T``, as a contiguous copy for a sequence: BLAS multiplies (N, H) @ (H, G*H) up to twice as fast then."""
    if steps == 1:
        return w.T
    xp = get_array_module(w)
    t = _scratch.empty(xp, w.shape[::-1], w.dtype)
    t[...] = w.T
    return t


def _states(xp, x, hidden, initial, reverse):
    """A (L + 1, N, H) buffer of states with the initial one (zeros for ``None``) in its slot."""
    s = _scratch.empty(xp, (x.shape[0] + 1, x.shape[1], hidden), x.dtype)
    s[x.shape[0] if reverse else 0] = 0 if initial is None else initial
    return s


def _grads(needs, x, h_prev, gx_gates, gh_gates, w_ih, w_hh):
    """Input and weight gradients, each from one product over all steps; ``needs`` is for x, W_ih, W_hh, b_ih, b_hh."""
    flat_x = gx_gates.reshape(-1, gx_gates.shape[-1])
    flat_h = flat_x if gh_gates is gx_gates else gh_gates.reshape(flat_x.shape)
    gx = (flat_x @ w_ih).reshape(x.shape) if needs[0] else None
    gw_ih = flat_x.T @ _unpack(x).reshape(flat_x.shape[0], -1) if needs[1] else None
    gw_hh = flat_h.T @ h_prev.reshape(flat_h.shape[0], -1) if needs[2] else None
    gb_ih = flat_x.sum(axis=0) if needs[3] else None
    if needs[4]:
        gb_hh = gb_ih if gh_gates is gx_gates and gb_ih is not None else flat_h.sum(axis=0)
    else:
        gb_hh = None
    return gx, gw_ih, gw_hh, gb_ih, gb_hh


def _previous(states, reverse):
    """The state each step started from, (L, N, H), in time order."""
    return states[1:] if reverse else states[:-1]


def _outputs(states, reverse):
    """The state each step produced, (L, N, H), in time order."""
    return states[:-1] if reverse else states[1:]


# ----- LSTM: batch-major step kernels (the model-parallel LSTM of dist.sharding runs its loop on these) -----

def _lstm_constants(xp, hidden, dtype):
    """Per-gate-column constants: ``sigmoid`` (1 on i, f, o, 0 on g), ``scale`` (0.5 or 1) and ``shift`` (0.5 or 0)."""
    sigmoid = xp.ones(4 * hidden, dtype)
    sigmoid[2 * hidden:3 * hidden] = 0
    return sigmoid, 1 - 0.5 * sigmoid, 0.5 * sigmoid


def _lstm_step(a, c, c_new, h_new, tc, scale, shift):
    """Activate the gate pre-activations ``a`` (N, 4H) in place and write the new cell and hidden state."""
    xp = get_array_module(a)
    # sigmoid(x) = 0.5 tanh(x / 2) + 0.5 on i, f, o and tanh on g: one tanh over all four gates
    a *= scale
    xp.tanh(a, out=a)
    a *= scale
    a += shift
    h = c.shape[-1]
    i, f, g, o = a[:, :h], a[:, h:2 * h], a[:, 2 * h:3 * h], a[:, 3 * h:]
    xp.multiply(f, c, out=c_new)
    c_new += i * g
    xp.tanh(c_new, out=tc)
    xp.multiply(o, tc, out=h_new)


def _lstm_step_backward(a, c, tc, gh, gc, da, sigmoid, tanh):
    """Gate gradients into ``da`` from ``gh`` and ``gc`` (of the new states); ``gc`` becomes that of ``c``."""
    xp = get_array_module(a)
    h = c.shape[-1]
    i, f, g, o = a[:, :h], a[:, h:2 * h], a[:, 2 * h:3 * h], a[:, 3 * h:]
    xp.multiply(gh, tc, out=da[:, 3 * h:])
    t = tc * tc
    xp.subtract(1, t, out=t)
    t *= o
    t *= gh
    gc += t
    xp.multiply(gc, g, out=da[:, :h])
    xp.multiply(gc, c, out=da[:, h:2 * h])
    xp.multiply(gc, i, out=da[:, 2 * h:3 * h])
    # activation slopes: a (1 - a) on sigmoid gates, 1 - a^2 on the tanh gate: a (sigmoid - a) + tanh
    slope = sigmoid - a
    slope *= a
    slope += tanh
    da *= slope
    gc *= f


class LSTMFunction(KeepsIntermediates):
    """One LSTM layer in one direction over a whole sequence (or one step for a 2-D input); the time loop is
    ``_lstm_kernel``'s.

    A recorded gradient (``create_graph``) is that of the layer recomputed from ops (``_lstm_graph``)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
        idle = _idle_rows(get_array_module(x), _unpack(x).shape[0], lengths)
        y, h_n, c_n, kept = lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, idle)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        ctx.keep(*kept)
        ctx.reverse, ctx.idle = reverse, idle
        return y, h_n, c_n

    @staticmethod
    def backward(ctx, gy, gh_n, gc_n):
        if recording(namespace_of(gy, gh_n, gc_n)):
            return _recomputed(_lstm_graph, ctx, gy, gh_n, gc_n) + (None, None)
        x, _, _, w_ih, w_hh, _, _ = ctx.saved_tensors
        needs = [ctx.needs_input_grad[i] for i in (0, 3, 4, 5, 6)]
        gx, gh, gc, gw_ih, gw_hh, gb_ih, gb_hh = lstm_backward(ctx.intermediates, x, w_ih, w_hh, gy, gh_n, gc_n,
                                                               ctx.reverse, ctx.idle, needs)
        return gx, gh, gc, gw_ih, gw_hh, gb_ih, gb_hh, None, None


# ----- GRU -----

def _gru_step(a, hh, h, h_new, hn):
    """Turn ``a`` (N, 3H: the input projection) into r, z, n in place given ``hh = h @ W_hh^T + b_hh``."""
    xp = get_array_module(a)
    size = h.shape[-1]
    rz = a[:, :2 * size]
    rz += hh[:, :2 * size]
    _sigmoid_(rz)
    r, z, n = a[:, :size], a[:, size:2 * size], a[:, 2 * size:]
    hn[...] = hh[:, 2 * size:]
    n += r * hn
    xp.tanh(n, out=n)
    xp.subtract(h, n, out=h_new)
    h_new *= z
    h_new += n


def _gru_step_backward(a, h, hn, gh, da, dhh):
    """Gradients of the input (``da``) and hidden (``dhh``) pre-activations; ``gh`` becomes its direct part."""
    xp = get_array_module(a)
    size = h.shape[-1]
    r, z, n = a[:, :size], a[:, size:2 * size], a[:, 2 * size:]
    gr, gz, gn = da[:, :size], da[:, size:2 * size], da[:, 2 * size:]
    xp.subtract(h, n, out=gz)
    gz *= gh
    xp.subtract(1, z, out=gn)
    gn *= gh
    t = n * n
    xp.subtract(1, t, out=t)
    gn *= t
    xp.multiply(gn, hn, out=gr)
    xp.multiply(gn, r, out=dhh[:, 2 * size:])
    rz = a[:, :2 * size]
    slope = 1 - rz
    slope *= rz
    da[:, :2 * size] *= slope
    dhh[:, :2 * size] = da[:, :2 * size]
    gh *= z


class GRUFunction(KeepsIntermediates):
    """One GRU layer in one direction over a whole sequence (or one step for a 2-D input).

    A recorded gradient (``create_graph``) is that of the layer recomputed from ops (``_gru_graph``)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
        xp = get_array_module(x)
        seq = _unpack(x)
        idle = _idle_rows(xp, seq.shape[0], lengths)
        hidden = w_hh.shape[1]
        a = _project(seq, w_ih, b_ih)
        hs = _states(xp, seq, hidden, h0, reverse)
        hns = _scratch.empty(xp, hs[1:].shape, hs.dtype)
        w_hh_t, hh = _transposed(w_hh, seq.shape[0]), _scratch.empty(xp, a.shape[1:], a.dtype)
        for t, prev, new in _order(seq.shape[0], reverse):
            xp.matmul(hs[prev], w_hh_t, out=hh)
            if b_hh is not None:
                hh += b_hh
            _gru_step(a[t], hh, hs[prev], hs[new], hns[t])
            _hold(hs[new], hs[prev], idle[t])
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh)
        ctx.keep(a, hs, hns)
        ctx.reverse, ctx.idle = reverse, idle
        return _outputs(hs, reverse), hs[0 if reverse else seq.shape[0]].copy()

    @staticmethod
    def backward(ctx, gy, gh_n):
        if recording(namespace_of(gy, gh_n)):
            return _recomputed(_gru_graph, ctx, gy, gh_n) + (None, None)
        x, _, w_ih, w_hh, _, _ = ctx.saved_tensors
        a, hs, hns = ctx.intermediates
        xp = get_array_module(a)
        da, dhh = _scratch.empty(xp, a.shape, a.dtype), _scratch.empty(xp, a.shape, a.dtype)
        gh, through_hh = gh_n.copy(), _scratch.empty(xp, hs.shape[1:], hs.dtype)
        for t, prev, new in reversed(_order(a.shape[0], ctx.reverse)):
            gh += gy[t]
            idle = ctx.idle[t]
            held = None if idle is None else gh.copy()
            _gru_step_backward(a[t], hs[prev], hns[t], gh, da[t], dhh[t])
            _no_gate_grad(da[t], idle)
            _no_gate_grad(dhh[t], idle)
            gh += xp.matmul(dhh[t], w_hh, out=through_hh)
            _pass_back(gh, held, idle)
        needs = ctx.needs_input_grad
        gx, gw_ih, gw_hh, gb_ih, gb_hh = _grads([needs[i] for i in (0, 2, 3, 4, 5)], x,
                                                _previous(hs, ctx.reverse), da, dhh, w_ih, w_hh)
        return gx, gh, gw_ih, gw_hh, gb_ih, gb_hh, None, None


# ----- Elman RNN -----

class RNNFunction(KeepsIntermediates):
    """One Elman RNN layer (tanh or relu) in one direction over a whole sequence (or one step for a 2-D input).

    A recorded gradient (``create_graph``) is that of the layer recomputed from ops (``_rnn_graph``)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse, lengths=None):
        xp = get_array_module(x)
        seq = _unpack(x)
        idle = _idle_rows(xp, seq.shape[0], lengths)
        a = _project(seq, w_ih, b_ih, b_hh)
        hs = _states(xp, seq, w_hh.shape[1], h0, reverse)
        w_hh_t, hh = _transposed(w_hh, seq.shape[0]), _scratch.empty(xp, hs.shape[1:], hs.dtype)
        for t, prev, new in _order(seq.shape[0], reverse):
            xp.add(a[t], xp.matmul(hs[prev], w_hh_t, out=hh), out=hs[new])
            if nonlinearity == "tanh":
                xp.tanh(hs[new], out=hs[new])
            else:
                xp.maximum(hs[new], 0, out=hs[new])
            _hold(hs[new], hs[prev], idle[t])
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh)
        ctx.keep(hs)
        ctx.reverse, ctx.nonlinearity, ctx.idle = reverse, nonlinearity, idle
        return _outputs(hs, reverse), hs[0 if reverse else seq.shape[0]].copy()

    @staticmethod
    def backward(ctx, gy, gh_n):
        if recording(namespace_of(gy, gh_n)):
            return _recomputed(_rnn_graph, ctx, gy, gh_n) + (None, None, None)
        x, _, w_ih, w_hh, _, _ = ctx.saved_tensors
        hs, = ctx.intermediates
        xp = get_array_module(hs)
        da = _scratch.empty(xp, hs[1:].shape, hs.dtype)
        gh = gh_n.copy()
        for t, prev, new in reversed(_order(da.shape[0], ctx.reverse)):
            gh += gy[t]
            idle = ctx.idle[t]
            held = None if idle is None else gh.copy()
            if ctx.nonlinearity == "tanh":
                slope = hs[new] * hs[new]
                xp.subtract(1, slope, out=slope)
            else:
                slope = hs[new] > 0
            xp.multiply(gh, slope, out=da[t])
            _no_gate_grad(da[t], idle)
            xp.matmul(da[t], w_hh, out=gh)
            _pass_back(gh, held, idle)
        needs = ctx.needs_input_grad
        gx, gw_ih, gw_hh, gb_ih, gb_hh = _grads([needs[i] for i in (0, 2, 3, 4, 5)], x,
                                                _previous(hs, ctx.reverse), da, da, w_ih, w_hh)
        return gx, gh, gw_ih, gw_hh, gb_ih, gb_hh, None, None, None


# ----- the layers recomputed from ops, for recorded gradients -----

def _recomputed(graph, ctx, *grads):
    """The input gradients of a layer, recorded: ``graph`` (the layer from ops) differentiated at the saved inputs."""
    inputs = ctx.saved_tensors
    settings = {"reverse": ctx.reverse, "idle": ctx.idle}
    if graph is _rnn_graph:
        settings["nonlinearity"] = ctx.nonlinearity
    return spread(RecomputedGradient.apply(functools.partial(graph, **settings), len(inputs), *inputs, *grads), inputs)


def _scan(x, states, step, reverse, idle):
    """Run ``step(input projection row, *states) -> states`` over the steps; a sequence past its end keeps its
    states. Returns the first state of every step, stacked in time order, and the last states."""
    outs = [None] * x.shape[0]
    for t in (range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])):
        new = step(x[t], *states)
        if idle[t] is not None:
            new = tuple(where(idle[t], old, s) for old, s in zip(states, new))
        states = new
        outs[t] = states[0]
    return (stack(outs, axis=0),) + tuple(states)


def _initial(state, x, hidden):
    return zeros((x.shape[-2], hidden), dtype=x.dtype, device=x.device) if state is None else state


def _projected(x, w, *biases):
    a = _unpack(x) @ w.swapaxes(0, 1)
    for b in biases:
        if b is not None:
            a = a + b
    return a


def _lstm_graph(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, idle):
    """``lstm_layer`` from differentiable ops."""
    size = w_hh.shape[1]
    w_hh_t = w_hh.swapaxes(0, 1)

    def step(a, h, c):
        a = a + h @ w_hh_t
        i, f, g, o = sigmoid(a[:, :size]), sigmoid(a[:, size:2 * size]), tanh(a[:, 2 * size:3 * size]), \
            sigmoid(a[:, 3 * size:])
        c = f * c + i * g
        return o * tanh(c), c
    return _scan(_projected(x, w_ih, b_ih, b_hh), (_initial(h0, x, size), _initial(c0, x, size)), step, reverse,
                 idle)


def _gru_graph(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, idle):
    """``gru_layer`` from differentiable ops."""
    size = w_hh.shape[1]
    w_hh_t = w_hh.swapaxes(0, 1)

    def step(a, h):
        hh = h @ w_hh_t if b_hh is None else h @ w_hh_t + b_hh
        r, z = sigmoid(a[:, :size] + hh[:, :size]), sigmoid(a[:, size:2 * size] + hh[:, size:2 * size])
        n = tanh(a[:, 2 * size:] + r * hh[:, 2 * size:])
        return ((h - n) * z + n,)
    return _scan(_projected(x, w_ih, b_ih), (_initial(h0, x, size),), step, reverse, idle)


def _rnn_graph(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse, idle):
    """``rnn_layer`` from differentiable ops."""
    w_hh_t = w_hh.swapaxes(0, 1)
    activation = tanh if nonlinearity == "tanh" else relu

    def step(a, h):
        return (activation(a + h @ w_hh_t),)
    return _scan(_projected(x, w_ih, b_ih, b_hh), (_initial(h0, x, w_hh.shape[1]),), step, reverse, idle)


# ----- functional forms -----

def _check_lengths(name, x, lengths):
    """``lengths`` as a tuple of ints, one per sequence of ``x`` (L, N, H_in), each in 1..L; None stays None."""
    if lengths is None:
        return None
    lengths = tuple(int(n) for n in np.asarray(lengths.numpy() if hasattr(lengths, "numpy") else lengths).ravel())
    if x.ndim != 3 or len(lengths) != x.shape[1]:
        raise ValueError(f"{name}: lengths needs one entry per sequence of a (L, N, H_in) input; got "
                         f"{len(lengths)} lengths for an input of shape {tuple(x.shape)}")
    if lengths and not 1 <= min(lengths) <= max(lengths) <= x.shape[0]:
        raise ValueError(f"{name}: every length must be between 1 and the {x.shape[0]} steps of the input, got "
                         f"{list(lengths)}")
    return lengths


@lower_precision
def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, lengths=None):
    """One LSTM layer over ``x`` (L, N, H_in); ``h0``/``c0`` (N, H) or None for zeros; returns ``(y, h_n, c_n)``.

    ``lengths`` (N,) marks a padded batch: each sequence stops at its length, ``h_n``/``c_n`` are its states at its
    last real step (for ``reverse``, it starts there), and ``y`` at its padded steps holds a carried-over state,
    not an output.
    """
    check_dtypes("lstm", x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    return LSTMFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, _check_lengths("lstm_layer", x, lengths))


def gru_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, lengths=None):
    """One GRU layer over ``x`` (L, N, H_in); ``h0`` (N, H) or None for zeros; returns ``(y, h_n)``; ``lengths``
    as in ``lstm_layer``."""
    check_dtypes("gru", x, h0=h0, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    return GRUFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, _check_lengths("gru_layer", x, lengths))


def rnn_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False, lengths=None):
    """One Elman RNN layer over ``x`` (L, N, H_in); ``h0`` (N, H) or None for zeros; returns ``(y, h_n)``;
    ``lengths`` as in ``lstm_layer``."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_layer: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    check_dtypes("rnn", x, h0=h0, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    return RNNFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse,
                             _check_lengths("rnn_layer", x, lengths))


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: ``x`` (N, H_in), ``h``/``c`` (N, H) or None for zeros; returns ``(h', c')``."""
    _, h, c = lstm_layer(x, h, c, w_ih, w_hh, b_ih, b_hh)
    return h, c


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: ``x`` (N, H_in), ``h`` (N, H) or None for zeros; returns ``h'``."""
    return gru_layer(x, h, w_ih, w_hh, b_ih, b_hh)[1]


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step: ``x`` (N, H_in), ``h`` (N, H) or None for zeros; returns ``h'``."""
    return rnn_layer(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity, False)[1]
