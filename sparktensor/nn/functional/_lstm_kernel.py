"""The LSTM layer's time loop over raw arrays, forward and backward, with every per-step array feature-major.

A step's gates are one (4H, N) array, so each gate (i, f, g, o) is a contiguous (H, N) block and the cell update
runs on contiguous memory; OpenBLAS also multiplies ``W (4H, H) @ h (H, N)`` faster than ``h (N, H) @ W^T`` at a
small batch. The sigmoid gates are ``0.5 tanh(x / 2) + 0.5`` with the 1/2 folded into their weight rows, so one
tanh covers the four gates. The input projection of all steps and the weight gradients of all steps are one
matrix product each; states go back to batch-major (N, H) once per call, for the output.
"""
import numpy as np

from ...backend import get_array_module
from ._lstm_threads import gate_rows, run_in_blocks, unit_blocks, unit_slices
from ._rnn_buffers import _hold, _no_gate_grad, _order, _pass_back, _scratch, _unpack


def _halves(xp, hidden, dtype):
    """A (4H, 1) column: 1/2 on the rows of the sigmoid gates (i, f, o), 1 on those of g."""
    half = xp.full((4 * hidden, 1), 0.5, dtype)
    half[2 * hidden:3 * hidden] = 1
    return half


def _input_part(xp, seq, w_ih, half):
    """``half * W_ih x_t`` of every step as a (L, 4H, N) array, from one matrix product."""
    steps, batch, features = seq.shape
    rows = w_ih.shape[0]
    w = _scratch.empty(xp, w_ih.shape, w_ih.dtype)
    xp.multiply(w_ih, half, out=w)
    flat = _scratch.empty(xp, (rows, steps * batch), seq.dtype)
    xp.matmul(w, seq.reshape(steps * batch, features).T, out=flat)
    gates = _scratch.empty(xp, (steps, rows, batch), seq.dtype)
    xp.copyto(gates, flat.reshape(rows, steps, batch).transpose(1, 0, 2))
    return gates


def _recurrent(xp, w_hh, b_ih, b_hh, half):
    """``half * [W_hh | b_ih + b_hh]`` (4H, H + 1), or ``half * W_hh`` without biases: the biases ride the
    recurrent product on a row of ones under the state, which costs less than a pass of their own."""
    biases = [b for b in (b_ih, b_hh) if b is not None]
    rows, hidden = w_hh.shape
    w = _scratch.empty(xp, (rows, hidden + bool(biases)), w_hh.dtype)
    xp.multiply(w_hh, half, out=w[:, :hidden])
    if biases:
        xp.multiply((biases[0] if len(biases) == 1 else biases[0] + biases[1])[:, None], half, out=w[:, hidden:])
    return w


def _cell(a, gates4, c, c_new, tc, h_new, ig):
    """Activate the (4H, N) pre-activations ``a`` (halved on sigmoid rows) in place; write c', tanh(c') and h'."""
    xp = get_array_module(a)
    hidden = c.shape[0]
    xp.tanh(a, out=a)
    for rows in (a[:2 * hidden], a[3 * hidden:]):
        rows *= 0.5
        rows += 0.5
    i, f, g, o = gates4
    xp.multiply(f, c, out=c_new)
    c_new += xp.multiply(i, g, out=ig)
    xp.tanh(c_new, out=tc)
    xp.multiply(o, tc, out=h_new)


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, idle):
    """``(y, h_n, c_n, kept)``: the layer over ``x`` (L, N, H_in) or one step (N, H_in); ``kept`` is for
    ``lstm_backward``; ``idle`` holds per step the (N, 1) mask of sequences past their end, or None.

    With several blocks of hidden units (``_lstm_threads``) the gate rows are in the blocks' order throughout."""
    xp = get_array_module(x)
    seq = _unpack(x)
    steps, batch = seq.shape[:2]
    hidden = w_hh.shape[1]
    dtype = seq.dtype
    blocks = unit_blocks(xp, hidden, batch)
    rows = gate_rows(hidden, blocks)
    w_ih, w_hh, b_ih, b_hh = (w if w is None or rows is None else w[rows] for w in (w_ih, w_hh, b_ih, b_hh))
    half = _halves(xp, hidden, dtype)
    half = half if rows is None else half[rows]
    gates = _input_part(xp, seq, w_ih, half)
    recurrent = _recurrent(xp, w_hh, b_ih, b_hh, half)
    hs = _scratch.empty(xp, (steps + 1, recurrent.shape[1], batch), dtype)
    hs[:, hidden:] = 1  # the row of ones the biases multiply (none without biases)
    cs = _scratch.empty(xp, (steps + 1, hidden, batch), dtype)
    tcs = _scratch.empty(xp, (steps, hidden, batch), dtype)
    first = steps if reverse else 0
    hs[first, :hidden] = 0 if h0 is None else h0.T
    cs[first] = 0 if c0 is None else c0.T
    order = _order(steps, reverse)
    # per block: its units, its gate rows, and its work arrays for the recurrent product and i * g
    parts = [(u, slice(4 * u.start, 4 * u.stop), xp.empty((4 * (u.stop - u.start), batch), dtype),
              xp.empty((u.stop - u.start, batch), dtype)) for u in unit_slices(hidden, blocks)]

    def step(block, i):
        t, prev, new = order[i]
        u, r, hh, ig = parts[block]
        a = gates[t, r]
        a += xp.matmul(recurrent[r], hs[prev], out=hh)
        h_new, c_new = hs[new, u], cs[new, u]
        _cell(a, a.reshape(4, -1, batch), cs[prev, u], c_new, tcs[t, u], h_new, ig)
        if idle[t] is not None:
            _hold(h_new, hs[prev, u], idle[t].T)
            _hold(c_new, cs[prev, u], idle[t].T)
    run_in_blocks(step, blocks, steps)
    states = _scratch.empty(xp, (steps + 1, batch, hidden), dtype)
    xp.copyto(states, hs[:, :hidden].transpose(0, 2, 1))
    last = 0 if reverse else steps
    y = states[:-1] if reverse else states[1:]
    return y, states[last].copy(), xp.ascontiguousarray(cs[last].T), (gates, cs, tcs, states, (rows, blocks))


def _gate_grads(a, c, tc, gh, gc, d, t1):
    """Gate pre-activation gradients into ``d`` (4H, N), before the activation slopes, from ``gh`` and ``gc`` (of
    h' and c'); ``gc`` gets c's part through the output gate (its part through f is added by the caller)."""
    xp = get_array_module(a)
    hidden = c.shape[0]
    i, f, g, o = (a[k * hidden:(k + 1) * hidden] for k in range(4))
    xp.multiply(gh, tc, out=d[3 * hidden:])
    xp.multiply(tc, tc, out=t1)
    xp.subtract(1, t1, out=t1)
    t1 *= o
    t1 *= gh
    gc += t1
    xp.multiply(gc, g, out=d[:hidden])
    xp.multiply(gc, c, out=d[hidden:2 * hidden])
    xp.multiply(gc, i, out=d[2 * hidden:3 * hidden])


def _slopes(a, slope):
    """The activations' slopes into ``slope``: s (1 - s) on the sigmoid gates' rows, 1 - g^2 on g's."""
    xp = get_array_module(a)
    hidden = a.shape[0] // 4
    xp.multiply(a, a, out=slope)
    for rows in (slice(0, 2 * hidden), slice(3 * hidden, None)):
        xp.subtract(a[rows], slope[rows], out=slope[rows])
    xp.subtract(1, slope[2 * hidden:3 * hidden], out=slope[2 * hidden:3 * hidden])


def lstm_backward(kept, x, w_ih, w_hh, gy, gh_n, gc_n, reverse, idle, needs):
    """``(gx, gh0, gc0, gw_ih, gw_hh, gb_ih, gb_hh)`` from ``lstm_forward``'s ``kept``; ``needs`` says which of
    x, W_ih, W_hh, b_ih, b_hh need one (None in the other places)."""
    gates, cs, tcs, states, (rows, blocks) = kept
    xp = get_array_module(gates)
    steps, _, batch = gates.shape
    hidden = cs.shape[1]
    dtype = gates.dtype
    gys = _scratch.empty(xp, (steps, hidden, batch), dtype)
    xp.copyto(gys, gy.reshape(steps, batch, hidden).transpose(0, 2, 1))
    gh, gc = gh_n.T.copy(), gc_n.T.copy()  # C-ordered (H, N) copies, updated in place
    das = _scratch.empty(xp, gates.shape, dtype)  # the gate gradients of every step
    recurrent = w_hh if rows is None else w_hh[rows]
    order = _order(steps, reverse)[::-1]
    # per block: its units, its gate rows, its forget gate's rows, and work arrays (gate gradients, slopes, one
    # (units, N) temporary, and the gradients held over a step past a sequence's end)
    parts = [(u, slice(4 * u.start, 4 * u.stop), slice(4 * u.start + n, 4 * u.start + 2 * n),
              [xp.empty((4 * n, batch), dtype), xp.empty((4 * n, batch), dtype), xp.empty((n, batch), dtype), None])
             for u, n in ((u, u.stop - u.start) for u in unit_slices(hidden, blocks))]

    def step(block, i):
        # the product of step i - 1 needs the gate gradients of every block: it comes after the blocks met
        u, r, forget, work = parts[block]
        gh_u, gc_u = gh[u], gc[u]
        if i > 0:
            t = order[i - 1][0]
            xp.matmul(recurrent[:, u].T, das[t], out=gh_u)
            gc_u *= gates[t, forget]
            if work[3] is not None:
                _pass_back(gh_u, work[3][0], idle[t].T)
                _pass_back(gc_u, work[3][1], idle[t].T)
        if i < steps:
            t, prev, _ = order[i]
            gh_u += gys[t, u]
            work[3] = None if idle[t] is None else (gh_u.copy(), gc_u.copy())
            a = gates[t, r]
            _gate_grads(a, cs[prev, u], tcs[t, u], gh_u, gc_u, work[0], work[2])
            _slopes(a, work[1])
            da = xp.multiply(work[0], work[1], out=das[t, r])
            _no_gate_grad(da, None if idle[t] is None else idle[t].T)
    run_in_blocks(step, blocks, steps + 1)
    # as (4H, L * N) in the weights' row order: the weight gradients of all steps are then one product each
    flat = _scratch.empty(xp, (4 * hidden, steps, batch), dtype)
    if rows is None:
        xp.copyto(flat, das.transpose(1, 0, 2))
    else:
        flat[rows] = das.transpose(1, 0, 2)
    flat = flat.reshape(4 * hidden, steps * batch)
    previous = states[1:] if reverse else states[:-1]
    gx = (flat.T @ w_ih).reshape(x.shape) if needs[0] else None
    gw_ih = flat @ _unpack(x).reshape(steps * batch, -1) if needs[1] else None
    gw_hh = flat @ previous.reshape(steps * batch, hidden) if needs[2] else None
    gb = _row_sums(xp, flat) if needs[3] or needs[4] else None
    return (gx, xp.ascontiguousarray(gh.T), xp.ascontiguousarray(gc.T), gw_ih, gw_hh,
            gb if needs[3] else None, gb if needs[4] else None)


def _row_sums(xp, flat):
    """Sums of the rows of ``flat``: as a product with ones where BLAS does it (faster than a reduction)."""
    if flat.dtype in (np.float32, np.float64):
        return flat @ xp.ones(flat.shape[1], flat.dtype)
    return flat.sum(axis=1)
