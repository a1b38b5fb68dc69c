"""``ParallelLSTM``: an ``LSTM`` whose hidden units, and so the rows of each gate, are split across ranks.

Rank m keeps rows of its hidden units in each of the four gates (i, f, g, o) of ``weight_ih``, ``weight_hh``,
``bias_ih`` and ``bias_hh``; ``weight_hh`` keeps all its columns, because every unit's gates read the whole
previous h. Each step, each rank computes its units' gates, cell and h, and the whole h is then assembled
by an all-gather, which the next step reads. Backward runs the same way in reverse: each rank's gate
gradients give its share of the gradient of the whole previous h, and a reduce-scatter sums those shares
and hands each rank the slice of its own units.

Cost: a collective per time step, both ways: an all-gather of (N, H) per step forward and a reduce-scatter
of (N, H) per step backward, per layer and direction, each moving (M - 1) / M of N * H values per rank and
waiting for M - 1 hops of the ring. That latency is paid L times per sequence, so sharding an LSTM pays off
when its weight matrices (4H x (H_in + H)) are large against the batch's N x H states, not for small
hidden sizes; and on a high-latency network the steps' collectives, not the arithmetic, set the speed.

A ``PackedSequence`` input works as in ``nn.LSTM``: every rank holds the same lengths, so each stops a sequence
at the same step.
"""
from ...backend import get_array_module
from ...autograd.function import Function
from ...nn.functional.rnn import (_check_lengths, _grads, _hold, _idle_rows, _lstm_constants, _lstm_step,
                                  _lstm_step_backward, _no_gate_grad, _order, _outputs, _pass_back, _previous,
                                  _project, _scratch, _states, _transposed, _unpack)
from ...nn.modules.module import Module
from ...nn.modules.rnn import LSTM
from ...nn.parameter import Parameter
from .communication import copy_to_parallel, gather_from_parallel, scatter_to_parallel
from .split import Split, bounds

_GATE_ROWS = Split(0, groups=4)


class ParallelLSTMFunction(Function):
    """One LSTM layer in one direction with this rank's hidden units; x, h0 whole, c0 and c_n this rank's."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, comm, lengths=None):
        xp = get_array_module(x)
        seq = _unpack(x)
        idle = _idle_rows(xp, seq.shape[0], lengths)
        hidden, own = w_hh.shape[1], w_hh.shape[0] // 4
        a = _project(seq, w_ih, b_ih, b_hh)  # (L, N, 4 * own): this rank's rows of every gate
        hs, cs = _states(xp, seq, hidden, h0, reverse), _states(xp, seq, own, c0, reverse)
        tcs, h_own = _scratch.empty(xp, cs[1:].shape, a.dtype), xp.empty((seq.shape[1], own), a.dtype)
        _, scale, shift = _lstm_constants(xp, own, a.dtype)
        w_hh_t, hh = _transposed(w_hh, seq.shape[0]), _scratch.empty(xp, a.shape[1:], a.dtype)
        for t, prev, new in _order(seq.shape[0], reverse):
            a[t] += xp.matmul(hs[prev], w_hh_t, out=hh)
            _lstm_step(a[t], cs[prev], cs[new], h_own, tcs[t], scale, shift)
            hs[new] = comm.all_gather(h_own, axis=1)
            _hold(hs[new], hs[prev], idle[t])
            _hold(cs[new], cs[prev], idle[t])
        ctx.save_for_backward(x, w_ih, w_hh, a, hs, cs, tcs)
        ctx.reverse, ctx.comm, ctx.idle = reverse, comm, idle
        last = 0 if reverse else seq.shape[0]
        return _outputs(hs, reverse), hs[last].copy(), cs[last].copy()

    @staticmethod
    def backward(ctx, gy, gh_n, gc_n):
        x, w_ih, w_hh, a, hs, cs, tcs = ctx.saved_tensors
        comm = ctx.comm
        xp = get_array_module(a)
        start, stop = bounds(w_hh.shape[1], comm.rank, comm.world_size)
        sigmoid, _, _ = _lstm_constants(xp, w_hh.shape[0] // 4, a.dtype)
        da = _scratch.empty(xp, a.shape, a.dtype)
        gh, gc = gh_n[:, start:stop].copy(), gc_n.copy()
        steps = list(reversed(_order(a.shape[0], ctx.reverse)))
        for k, (t, prev, new) in enumerate(steps):
            gh += gy[t][:, start:stop]  # gy and gh_n are whole and the same on every rank: take own units
            idle, last = ctx.idle[t], k + 1 == len(steps)
            held = None if idle is None else (gh.copy(), gc.copy())
            _lstm_step_backward(a[t], cs[prev], tcs[t], gh, gc, da[t], sigmoid, 1 - sigmoid)
            _no_gate_grad(da[t], idle)
            share = da[t] @ w_hh  # this rank's share of the gradient of the whole previous h
            if held is not None:
                _pass_back(gc, held[1], idle)
                if last:  # a sequence still waiting to start: its h0 gradient passes through, own units only
                    share[:, start:stop] += xp.where(idle, held[0], 0)
            # the gradient of h0 stays a share: copy_to_parallel's backward sums it over the ranks
            gh = comm.reduce_scatter(share, axis=1) if not last else share
            if held is not None and not last:
                _pass_back(gh, held[0], idle)
        needs = ctx.needs_input_grad
        gx, gw_ih, gw_hh, gb_ih, gb_hh = _grads([needs[i] for i in (0, 3, 4, 5, 6)], x,
                                                _previous(hs, ctx.reverse), da, da, w_ih, w_hh)
        return gx, gh, gc, gw_ih, gw_hh, gb_ih, gb_hh, None, None, None


class ParallelLSTM(LSTM):
    """This rank's hidden units of an ordinary ``LSTM`` (weights copied); called and answering as the LSTM does.

    Inputs, ``output``, ``h_n`` and ``c_n`` are whole and the same on every rank of ``comm``; only the
    parameters are split (see the module docstring for the communication this costs).

    Args:
        lstm: the ordinary ``nn.LSTM`` to split (any layers, bias, batch_first, bidirectional).
        comm: the model group's communicator.

    Shape:
        as ``nn.LSTM``.
    """

    def __init__(self, lstm, comm):
        Module.__init__(self)
        for name in ("mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                     "bidirectional"):
            setattr(self, name, getattr(lstm, name))
        self.comm = comm
        self.start, self.stop = bounds(lstm.hidden_size, comm.rank, comm.world_size)
        self.splits = {}
        for name, p in lstm._parameters.items():
            if p is not None:
                setattr(self, name, Parameter(_GATE_ROWS.take(p.data, comm.rank, comm.world_size),
                                              requires_grad=p.requires_grad))
                self.splits[name] = _GATE_ROWS

    def _layer(self, x, h0, c0, layer, reverse, lengths=None):
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, reverse)
        lengths = _check_lengths("ParallelLSTM", x, lengths)
        x = copy_to_parallel(x, self.comm)
        h0 = None if h0 is None else copy_to_parallel(h0, self.comm)
        c0 = None if c0 is None else scatter_to_parallel(c0, self.comm, -1)
        y, h_n, c_own = ParallelLSTMFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, self.comm, lengths)
        return y, h_n, gather_from_parallel(c_own, self.comm, -1)

    def reset_parameters(self):
        """Not available on a split layer: initialize the ordinary LSTM, then split it."""
        raise NotImplementedError("ParallelLSTM is made from an initialized nn.LSTM; reset that one instead")

    def extra_repr(self):
        return super().extra_repr() + f", rank {self.comm.rank} holds hidden units {self.start}:{self.stop}"
