"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` (padded tensors or PackedSequences) and the cells ``RNNCell``,
``LSTMCell``, ``GRUCell``."""
import math
import warnings

from ... import creation
from ...ops.shape import concatenate, stack
from .. import init
from ..functional.dropout import dropout
from ..functional.rnn import gru_cell, gru_layer, lstm_cell, lstm_layer, rnn_cell, rnn_layer
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, pad_packed_sequence, packed_like
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_dtype(layer, x, weight):
    if x.dtype != weight.dtype:
        raise TypeError(f"{layer!r}: the input is {x.dtype} but the parameters are {weight.dtype}; convert one, "
                        f"e.g. x.to({weight.dtype.name}) or layer.to({x.dtype.name})")


class RNNBase(Module):
    """The shared body of ``RNN``, ``LSTM`` and ``GRU``: parameters, shape checks and the loop over layers."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=None, device=None):
        super().__init__()
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{type(self).__name__}: hidden_size and num_layers must be positive, got "
                             f"{hidden_size} and {num_layers}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{type(self).__name__}: dropout must be between 0 and 1, got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{type(self).__name__}: dropout={dropout} acts between layers, so it does nothing with "
                          f"num_layers=1")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        gates = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                shapes = [("weight_ih", (gates, size)), ("weight_hh", (gates, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                for name, shape in shapes:
                    setattr(self, f"{name}_l{layer}{suffix}",
                            Parameter(creation.empty(*shape, dtype=dtype, device=device)))
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: every weight and bias U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer, reverse):
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        return [getattr(self, name + suffix) if self.bias or name.startswith("weight") else None
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

    def _expected(self):
        order = "(N, L, {0})" if self.batch_first else "(L, N, {0})"
        return order.format(self.input_size) + f" or unbatched (L, {self.input_size})"

    def _check_input(self, x):
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"{self!r}: expected input of shape {self._expected()}, got shape {tuple(x.shape)}")
        _check_dtype(self, x, self.weight_ih_l0)

    def _split_state(self, h, batch, batched, what):
        """The initial state (D*num_layers, N, H) as one (N, H) tensor per layer and direction, or Nones."""
        count = self.num_layers * (2 if self.bidirectional else 1)
        if h is None:
            return [None] * count
        expected = (count, batch, self.hidden_size) if batched else (count, self.hidden_size)
        if tuple(h.shape) != expected:
            raise ValueError(f"{self!r}: expected {what} of shape {expected} for an input with batch size {batch}"
                             f"{'' if batched else ' (unbatched)'}, got shape {tuple(h.shape)}")
        if not batched:
            h = h.unsqueeze(1)
        return [h[k] for k in range(count)]

    def _layer(self, x, h0, c0, layer, reverse, lengths):
        """``(y, h_n, c_n)`` of one layer in one direction (``c_n`` None except for LSTM)."""
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, reverse)
        if self.mode == "LSTM":
            return lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, lengths)
        if self.mode == "GRU":
            return gru_layer(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, lengths) + (None,)
        nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
        return rnn_layer(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, reverse, lengths) + (None,)

    def _run(self, x, h, c):
        """Output and final states ``(output, h_n, c_n)`` for input ``x`` and initial states ``h``, ``c``."""
        if isinstance(x, PackedSequence):
            return self._run_packed(x, h, c)
        self._check_input(x)
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.swapaxes(0, 1)
        x, h_n, c_n = self._stack(x, h, c, batched, None)
        if not batched:
            return x.squeeze(1), h_n.squeeze(1), (None if c_n is None else c_n.squeeze(1))
        return (x.swapaxes(0, 1) if self.batch_first else x), h_n, c_n

    def _run_packed(self, packed, h, c):
        """The packed output and each sequence's final states, in the original batch order, for a PackedSequence."""
        x, lengths = pad_packed_sequence(packed)
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"{self!r}: expected a PackedSequence of {self.input_size} features per step, got "
                             f"data of shape {tuple(packed.data.shape)}")
        _check_dtype(self, x, self.weight_ih_l0)
        y, h_n, c_n = self._stack(x, h, c, True, tuple(lengths.tolist()))
        return packed_like(y, packed), h_n, c_n

    def _stack(self, x, h, c, batched, lengths):
        """Run every layer over ``x`` (L, N, H_in); ``lengths`` (N,) stops each sequence at its end."""
        batch = x.shape[1]
        h0 = self._split_state(h, batch, batched, "h_0")
        c0 = self._split_state(c, batch, batched, "c_0") if self.mode == "LSTM" else h0
        directions = 2 if self.bidirectional else 1
        hs, cs = [], []
        for layer in range(self.num_layers):
            ys = []
            for d in range(directions):
                k = layer * directions + d
                y, h_n, c_n = self._layer(x, h0[k], c0[k] if self.mode == "LSTM" else None, layer, d == 1, lengths)
                ys.append(y)
                hs.append(h_n)
                cs.append(c_n)
            x = ys[0] if directions == 1 else concatenate(ys, axis=2)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                x = dropout(x, self.dropout, True)
        return x, stack(hs), (stack(cs) if self.mode == "LSTM" else None)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN, ``h_t = nonlinearity(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``; returns ``(output, h_n)``.

    Args:
        input_size: features of each input step.
        hidden_size: features of the hidden state.
        num_layers: stacked layers, each reading the previous one's output.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: whether to learn ``bias_ih`` and ``bias_hh``.
        batch_first: input and output as (N, L, *) instead of (L, N, *).
        dropout: dropout probability on the output of every layer but the last, in training mode.
        bidirectional: also run each layer backward in time and concatenate the two outputs.

    Shape:
        input (L, N, H_in), (N, L, H_in) with ``batch_first``, or unbatched (L, H_in);
        h_0 and h_n (D * num_layers, N, H), or (D * num_layers, H) unbatched, with D = 2 if bidirectional else 1;
        output (L, N, D * H), (N, L, D * H) with ``batch_first``, or unbatched (L, D * H).
        A ``PackedSequence`` input (``nn.utils.rnn.pack_padded_sequence``) gives a ``PackedSequence`` output of
        the same layout, each sequence stopping at its own length; the final states are each sequence's at its
        last real step, in the original batch order, and the backward direction starts at that step.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=None, device=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, dtype, device)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        """``(output, h_n)`` for ``input`` and the initial state ``hx`` (zeros when omitted)."""
        output, h_n, _ = self._run(input, hx, None)
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory with PyTorch's gates (i, f, g, o); returns ``(output, (h_n, c_n))``.

    Args:
        input_size: features of each input step.
        hidden_size: features of the hidden and cell state.
        num_layers: stacked layers, each reading the previous one's output.
        bias: whether to learn ``bias_ih`` and ``bias_hh``.
        batch_first: input and output as (N, L, *) instead of (L, N, *).
        dropout: dropout probability on the output of every layer but the last, in training mode.
        bidirectional: also run each layer backward in time and concatenate the two outputs.

    Shape:
        input (L, N, H_in), (N, L, H_in) with ``batch_first``, or unbatched (L, H_in);
        h_0, c_0, h_n and c_n (D * num_layers, N, H), or (D * num_layers, H) unbatched, with D = 2 if bidirectional
        else 1; output (L, N, D * H), (N, L, D * H) with ``batch_first``, or unbatched (L, D * H).
        A ``PackedSequence`` input (``nn.utils.rnn.pack_padded_sequence``) gives a ``PackedSequence`` output of
        the same layout, each sequence stopping at its own length; the final states are each sequence's at its
        last real step, in the original batch order, and the backward direction starts at that step.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=None, device=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype, device)

    def forward(self, input, hx=None):
        """``(output, (h_n, c_n))`` for ``input`` and the initial states ``hx = (h_0, c_0)`` (zeros when omitted)."""
        h, c = (None, None) if hx is None else hx
        output, h_n, c_n = self._run(input, h, c)
        return output, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit with PyTorch's gates (r, z, n), ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.

    Args:
        input_size: features of each input step.
        hidden_size: features of the hidden state.
        num_layers: stacked layers, each reading the previous one's output.
        bias: whether to learn ``bias_ih`` and ``bias_hh``.
        batch_first: input and output as (N, L, *) instead of (L, N, *).
        dropout: dropout probability on the output of every layer but the last, in training mode.
        bidirectional: also run each layer backward in time and concatenate the two outputs.

    Shape:
        input (L, N, H_in), (N, L, H_in) with ``batch_first``, or unbatched (L, H_in);
        h_0 and h_n (D * num_layers, N, H), or (D * num_layers, H) unbatched, with D = 2 if bidirectional else 1;
        output (L, N, D * H), (N, L, D * H) with ``batch_first``, or unbatched (L, D * H).
        A ``PackedSequence`` input (``nn.utils.rnn.pack_padded_sequence``) gives a ``PackedSequence`` output of
        the same layout, each sequence stopping at its own length; the final states are each sequence's at its
        last real step, in the original batch order, and the backward direction starts at that step.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=None, device=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype, device)

    def forward(self, input, hx=None):
        """``(output, h_n)`` for ``input`` and the initial state ``hx`` (zeros when omitted)."""
        output, h_n, _ = self._run(input, hx, None)
        return output, h_n


class RNNCellBase(Module):
    """The shared body of the cells: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` and shape checks."""

    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, dtype=None, device=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        size = self.gates * hidden_size
        self.weight_ih = Parameter(creation.empty(size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(creation.empty(size, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(creation.empty(size, dtype=dtype, device=device))
            self.bias_hh = Parameter(creation.empty(size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _prepare(self, x, states):
        """``x`` as (N, H_in) and each state as (N, H) (None stays None), and whether the input was batched."""
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.input_size}) or unbatched "
                             f"({self.input_size},), got shape {tuple(x.shape)}")
        _check_dtype(self, x, self.weight_ih)
        batched = x.ndim == 2
        expected = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        for s in states:
            if s is not None and tuple(s.shape) != expected:
                raise ValueError(f"{self!r}: expected a state of shape {expected} for an input of shape "
                                 f"{tuple(x.shape)}, got shape {tuple(s.shape)}")
        if not batched:
            x = x.unsqueeze(0)
            states = [None if s is None else s.unsqueeze(0) for s in states]
        return x, states, batched

    def _params(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s


class RNNCell(RNNCellBase):
    """One Elman RNN step, ``h' = nonlinearity(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Args:
        input_size: features of the input.
        hidden_size: features of the hidden state.
        bias: whether to learn ``bias_ih`` and ``bias_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Shape:
        input (N, H_in) or unbatched (H_in,); h and h' (N, H) or (H,), h zeros when omitted.
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=None, device=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype, device)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        """The next hidden state."""
        x, (h,), batched = self._prepare(input, [hx])
        h = rnn_cell(x, h, *self._params(), self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step with PyTorch's gates (i, f, g, o).

    Args:
        input_size: features of the input.
        hidden_size: features of the hidden and cell state.
        bias: whether to learn ``bias_ih`` and ``bias_hh``.

    Shape:
        input (N, H_in) or unbatched (H_in,); hx = (h, c) and the result (h', c') (N, H) or (H,) each, hx zeros
        when omitted.
    """

    gates = 4

    def forward(self, input, hx=None):
        """The next ``(h, c)``."""
        x, (h, c), batched = self._prepare(input, [None, None] if hx is None else list(hx))
        h, c = lstm_cell(x, h, c, *self._params())
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step with PyTorch's gates (r, z, n), ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.

    Args:
        input_size: features of the input.
        hidden_size: features of the hidden state.
        bias: whether to learn ``bias_ih`` and ``bias_hh``.

    Shape:
        input (N, H_in) or unbatched (H_in,); h and h' (N, H) or (H,), h zeros when omitted.
    """

    gates = 3

    def forward(self, input, hx=None):
        """The next hidden state."""
        x, (h,), batched = self._prepare(input, [hx])
        h = gru_cell(x, h, *self._params())
        return h if batched else h.squeeze(0)
