"""Recurrent layers against PyTorch: same weights in, same outputs, final states and gradients out."""
import numpy as np
import pytest
import torch

import sparktensor as st
from sparktensor.nn.functional.rnn import gru_layer, lstm_cell, lstm_layer, rnn_layer
from sparktensor.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from backends import to_numpy

STEPS, BATCH, FEATURES, HIDDEN = 5, 3, 4, 6
LAYERS = {
    "rnn_tanh": (RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, torch.nn.LSTM, {}),
    "gru": (GRU, torch.nn.GRU, {}),
}
CELLS = {
    "rnn_tanh": (RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (GRUCell, torch.nn.GRUCell, {}),
}
TOLERANCE = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


def _pair(table, kind, device, dtype, *args, **options):
    """A PyTorch layer and ours with the same weights (PyTorch's random init, loaded through the state dict)."""
    ours_cls, theirs_cls, extra = table[kind]
    torch.manual_seed(0)
    theirs = theirs_cls(*args, **extra, **options).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = ours_cls(*args, **extra, **options).to(device, dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _flat(result):
    """``(output, h_n)`` or ``(output, (h_n, c_n))`` as a flat list."""
    output, states = result
    return [output, *states] if isinstance(states, tuple) else [output, states]


def _both(arrays, device):
    """The same random arrays as sparktensor and torch leaves that require grad."""
    ours = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def _run_and_compare(ours, theirs, call_ours, call_theirs, inputs, device, dtype):
    """Forward both, backward random cotangents, compare every output and every gradient."""
    tol = TOLERANCE[dtype]
    xs, xts = _both(inputs, device)
    outs, touts = _flat(call_ours(*xs)), _flat(call_theirs(*xts))
    assert [tuple(o.shape) for o in outs] == [tuple(t.shape) for t in touts]
    for o, t in zip(outs, touts):
        np.testing.assert_allclose(to_numpy(o), t.detach().numpy(), **tol)
    rng = np.random.default_rng(7)
    cotangents = [rng.standard_normal(t.shape).astype(dtype) for t in touts]
    st.autograd.backward(outs, [st.tensor(u, device=device) for u in cotangents])
    torch.autograd.backward(touts, [torch.tensor(u) for u in cotangents])
    for i, (x, xt) in enumerate(zip(xs, xts)):
        np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), **tol, err_msg=f"input {i}")
    expected = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), expected[name].grad.numpy(), **tol, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("initial", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", LAYERS)
def test_layer_matches_torch(device, kind, num_layers, bidirectional, batch_first, initial, dtype):
    ours, theirs = _pair(LAYERS, kind, device, dtype, FEATURES, HIDDEN, num_layers=num_layers,
                         bidirectional=bidirectional, batch_first=batch_first)
    rng = np.random.default_rng(0)
    shape = (BATCH, STEPS, FEATURES) if batch_first else (STEPS, BATCH, FEATURES)
    inputs = [rng.standard_normal(shape).astype(dtype)]
    if initial:
        state = ((2 if bidirectional else 1) * num_layers, BATCH, HIDDEN)
        inputs += [rng.standard_normal(state).astype(dtype) for _ in range(2 if kind == "lstm" else 1)]

    def call(module):
        def run(x, *states):
            if not states:
                return module(x)
            return module(x, tuple(states) if kind == "lstm" else states[0])
        return run
    _run_and_compare(ours, theirs, call(ours), call(theirs), inputs, device, dtype)


@pytest.mark.parametrize("kind", LAYERS)
def test_layer_unbatched_and_without_bias(device, kind):
    ours, theirs = _pair(LAYERS, kind, device, np.float64, FEATURES, HIDDEN, num_layers=2, bidirectional=True,
                         bias=False)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((STEPS, FEATURES))]
    inputs += [rng.standard_normal((4, HIDDEN)) for _ in range(2 if kind == "lstm" else 1)]

    def call(module):
        return lambda x, *states: module(x, tuple(states) if kind == "lstm" else states[0])
    _run_and_compare(ours, theirs, call(ours), call(theirs), inputs, device, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(BATCH, FEATURES), (FEATURES,)], ids=["batched", "unbatched"])
@pytest.mark.parametrize("initial", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", CELLS)
def test_cell_matches_torch(device, kind, bias, initial, shape, dtype):
    ours, theirs = _pair(CELLS, kind, device, dtype, FEATURES, HIDDEN, bias=bias)
    rng = np.random.default_rng(2)
    state = shape[:-1] + (HIDDEN,)
    inputs = [rng.standard_normal((3,) + shape).astype(dtype)]
    if initial:
        inputs += [rng.standard_normal(state).astype(dtype) for _ in range(2 if kind == "lstm" else 1)]

    def call(module):
        def run(xs, *states):
            # three steps, each feeding its state to the next, so gradients flow through the recurrence
            hx = (tuple(states) if kind == "lstm" else states[0]) if states else None
            outputs = []
            for t in range(3):
                hx = module(xs[t], hx)
                outputs.append(hx[0] if kind == "lstm" else hx)
            return outputs[0] + outputs[1], hx
        return run
    _run_and_compare(ours, theirs, call(ours), call(theirs), inputs, device, dtype)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", LAYERS)
def test_state_dict_keys_and_shapes_match_torch(kind, bidirectional, bias):
    ours_cls, theirs_cls, extra = LAYERS[kind]
    ours = ours_cls(FEATURES, HIDDEN, num_layers=3, bidirectional=bidirectional, bias=bias, **extra)
    theirs = theirs_cls(FEATURES, HIDDEN, num_layers=3, bidirectional=bidirectional, bias=bias, **extra)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    cell, theirs_cell, extra = CELLS[kind]
    assert [(k, tuple(v.shape)) for k, v in cell(FEATURES, HIDDEN, bias=bias, **extra).state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs_cell(FEATURES, HIDDEN, bias=bias, **extra).state_dict().items()]


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell])
def test_default_init_has_pytorch_bounds(device, cls):
    st.manual_seed(0)
    layer = cls(20, 64).to(device)
    bound = 1 / np.sqrt(64)
    for name, p in layer.named_parameters():
        values = np.abs(to_numpy(p))
        assert values.max() <= bound and values.max() > 0.9 * bound, name


def test_dropout_between_layers(device):
    layer = LSTM(FEATURES, HIDDEN, num_layers=3, dropout=0.5).to(device)
    plain = LSTM(FEATURES, HIDDEN, num_layers=3).to(device)
    plain.load_state_dict(layer.state_dict())
    x = st.randn(STEPS, BATCH, FEATURES, device=device, requires_grad=True)
    layer.eval()
    with st.no_grad():
        y_eval, (h_eval, _) = layer(x)
        y_plain, _ = plain(x)
    np.testing.assert_array_equal(to_numpy(y_eval), to_numpy(y_plain))
    layer.train()
    runs = []
    for _ in range(2):
        st.manual_seed(11)
        y, (h, c) = layer(x)
        runs.append((to_numpy(y), to_numpy(h)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert not np.allclose(runs[0][0], to_numpy(y_eval))
    # dropout acts on the inputs of layers 2 and 3 only: the first layer's final state is untouched
    np.testing.assert_allclose(runs[0][1][0], to_numpy(h_eval)[0], rtol=1e-6)
    # and not after the last layer: no output is dropped to zero
    assert np.all(runs[0][0] != 0)
    y.sum().backward()
    assert np.isfinite(to_numpy(x.grad)).all() and x.grad.shape == x.shape


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_and_gru_gradcheck(device, reverse):
    rng = np.random.default_rng(3)

    def leaf(*shape):
        return st.tensor(rng.standard_normal(shape) * 0.7, dtype=st.float64, device=device, requires_grad=True)
    x, h0, c0 = leaf(3, 2, 3), leaf(2, 2), leaf(2, 2)
    lstm = [leaf(8, 3), leaf(8, 2), leaf(8), leaf(8)]
    assert st.autograd.gradcheck(lambda *a: lstm_layer(*a, reverse=reverse), [x, h0, c0, *lstm])
    gru = [leaf(6, 3), leaf(6, 2), leaf(6), leaf(6)]
    assert st.autograd.gradcheck(lambda *a: gru_layer(*a, reverse=reverse), [x, h0, *gru])
    rnn = [leaf(2, 3), leaf(2, 2), leaf(2), leaf(2)]
    assert st.autograd.gradcheck(lambda *a: rnn_layer(*a, reverse=reverse), [x, h0, *rnn])


def test_stacked_bidirectional_gradcheck(device):
    for cls in (LSTM, GRU):
        layer = cls(3, 2, num_layers=2, bidirectional=True, batch_first=True).to(device, st.float64)
        x = st.randn(2, 3, 3, dtype=st.float64, device=device, requires_grad=True)
        h0 = st.randn(4, 2, 2, dtype=st.float64, device=device, requires_grad=True)
        if cls is LSTM:
            c0 = st.randn(4, 2, 2, dtype=st.float64, device=device, requires_grad=True)
            assert st.autograd.gradcheck(lambda a, h, c: _flat(layer(a, (h, c))), [x, h0, c0])
        else:
            assert st.autograd.gradcheck(lambda a, h: _flat(layer(a, h)), [x, h0])


def test_long_sequence_backpropagates_without_recursion(device):
    steps = 5000
    st.manual_seed(0)
    cell = LSTMCell(3, 4).to(device, st.float64)
    layer = LSTM(3, 4).to(device, st.float64)
    layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    x_np = np.random.default_rng(5).standard_normal((steps, 2, 3))
    # one leaf per step: slicing one tensor would give every step a full-size gradient to add up
    xs = [st.tensor(x_np[t], device=device, requires_grad=True) for t in range(steps)]
    hx = None
    for x_t in xs:
        hx = cell(x_t, hx)
    (hx[0].sum() + hx[1].sum()).backward()
    x = st.tensor(x_np, device=device, requires_grad=True)
    _, (h, c) = layer(x)
    (h.sum() + c.sum()).backward()
    x_grad_cell = np.stack([to_numpy(x_t.grad) for x_t in xs])
    np.testing.assert_allclose(to_numpy(x.grad), x_grad_cell, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(to_numpy(layer.weight_hh_l0.grad), to_numpy(cell.weight_hh.grad), rtol=1e-9,
                               atol=1e-12)
    assert np.abs(x_grad_cell[-1]).max() > 0


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_outputs_and_graphs_survive_later_calls(device, kind):
    # large enough for the reused work arrays: a later call must not overwrite what an earlier one returned or saved
    ours, theirs = _pair(LAYERS, kind, device, np.float64, 32, 128, num_layers=2)
    rng = np.random.default_rng(6)
    x1, x2 = (rng.standard_normal((20, 16, 32)) for _ in range(2))
    y1, _ = ours(st.tensor(x1, device=device))
    for _ in range(2):
        y2, _ = ours(st.tensor(x2, device=device))
        y2.sum().backward()
    y1.sum().backward()
    expected1, expected2 = theirs(torch.tensor(x1))[0], theirs(torch.tensor(x2))[0]
    np.testing.assert_allclose(to_numpy(y1), expected1.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(y2), expected2.detach().numpy(), rtol=1e-10, atol=1e-12)
    (2 * expected2.sum() + expected1.sum()).backward()
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(to_numpy(getattr(ours, name).grad), p.grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=name)


@pytest.mark.parametrize("kind", LAYERS)
def test_wrong_input_size_names_layer_and_shapes(device, kind):
    cls, _, extra = LAYERS[kind]
    layer = cls(4, 6, num_layers=2, **extra).to(device)
    with pytest.raises(ValueError, match=rf"{cls.__name__}\(4, 6.*expected input of shape \(L, N, 4\).*"
                                         r"got shape \(5, 3, 7\)"):
        layer(st.ones(5, 3, 7, device=device))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 3, 6\).*got shape \(1, 3, 6\)"):
        layer(st.ones(5, 3, 4, device=device), (st.zeros(1, 3, 6, device=device),) * 2 if kind == "lstm"
              else st.zeros(1, 3, 6, device=device))
    cell_cls, _, extra = CELLS[kind]
    with pytest.raises(ValueError, match=rf"{cell_cls.__name__}\(4, 6.*expected input of shape \(N, 4\).*"
                                         r"got shape \(3, 5\)"):
        cell_cls(4, 6, **extra).to(device)(st.ones(3, 5, device=device))


def test_dtype_mismatch_and_bad_arguments(device):
    with pytest.raises(TypeError, match=r"LSTM\(4, 6\): the input is float64 but the parameters are float32"):
        LSTM(4, 6).to(device)(st.ones(5, 3, 4, dtype=st.float64, device=device))
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(4, 6, nonlinearity="sigmoid")
    with pytest.warns(UserWarning, match="dropout"):
        GRU(4, 6, dropout=0.3)


def test_functional_cell_matches_layer_step(device):
    rng = np.random.default_rng(4)
    x, h, c = (st.tensor(rng.standard_normal(s), device=device) for s in [(2, 3), (2, 4), (2, 4)])
    w_ih, w_hh, b = (st.tensor(rng.standard_normal(s), device=device) for s in [(16, 3), (16, 4), (16,)])
    h1, c1 = lstm_cell(x, h, c, w_ih, w_hh, b, b)
    _, h2, c2 = lstm_layer(x.unsqueeze(0), h, c, w_ih, w_hh, b, b)
    np.testing.assert_allclose(to_numpy(h1), to_numpy(h2))
    np.testing.assert_allclose(to_numpy(c1), to_numpy(c2))


@pytest.mark.parametrize("biases", ["both", "input_only", "hidden_only", "none"])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_layer_bias_combinations_match_torch_and_gradcheck(device, biases, reverse):
    # the biases ride the recurrent product on a row of ones: every combination of them must give PyTorch's values
    rng = np.random.default_rng(8)
    steps, batch, features, hidden = 4, 3, 5, 2
    x, h0, c0, w_ih, w_hh = (rng.standard_normal(s) * 0.7 for s in [(steps, batch, features), (batch, hidden),
                                                                   (batch, hidden), (4 * hidden, features),
                                                                   (4 * hidden, hidden)])
    b_ih, b_hh = (rng.standard_normal(4 * hidden) * 0.7 if biases in (kind, "both") else None
                  for kind in ("input_only", "hidden_only"))
    arrays = [a for a in (x, h0, c0, w_ih, w_hh, b_ih, b_hh) if a is not None]
    leaves = [st.tensor(a, device=device, requires_grad=True) for a in arrays]

    def ours(*args):
        given = iter(args[5:])
        bias_ih, bias_hh = (None if b is None else next(given) for b in (b_ih, b_hh))
        return lstm_layer(*args[:5], bias_ih, bias_hh, reverse=reverse)
    theirs = torch.nn.LSTM(features, hidden, dtype=torch.float64)
    zeros = np.zeros(4 * hidden)
    theirs.load_state_dict({"weight_ih_l0": torch.tensor(w_ih), "weight_hh_l0": torch.tensor(w_hh),
                            "bias_ih_l0": torch.tensor(zeros if b_ih is None else b_ih),
                            "bias_hh_l0": torch.tensor(zeros if b_hh is None else b_hh)})
    with torch.no_grad():
        order = [*range(steps)][::-1] if reverse else [*range(steps)]
        expected_y, (expected_h, expected_c) = theirs(torch.tensor(x[order]),
                                                      (torch.tensor(h0)[None], torch.tensor(c0)[None]))
    y, h_n, c_n = ours(*leaves)
    np.testing.assert_allclose(to_numpy(y), expected_y.numpy()[order], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(h_n), expected_h[0].numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(c_n), expected_c[0].numpy(), rtol=1e-10, atol=1e-12)
    assert st.autograd.gradcheck(ours, leaves)


def test_lstm_layer_padded_reverse_gradcheck(device):
    # a reverse direction over a padded batch starts each sequence at its own last step
    rng = np.random.default_rng(9)
    leaves = [st.tensor(rng.standard_normal(s) * 0.7, device=device, requires_grad=True)
              for s in [(5, 3, 2), (3, 3), (3, 3), (12, 2), (12, 3), (12,), (12,)]]
    lengths = [5, 2, 4]
    assert st.autograd.gradcheck(lambda *a: lstm_layer(*a, reverse=True, lengths=lengths), leaves)
    y, h_n, _ = lstm_layer(*leaves, reverse=True, lengths=lengths)
    for n, length in enumerate(lengths):
        # the part of a sequence up to its length alone gives the same final state
        alone = [leaves[0][:length, n:n + 1], leaves[1][n:n + 1], leaves[2][n:n + 1], *leaves[3:]]
        _, h_alone, _ = lstm_layer(*alone, reverse=True)
        np.testing.assert_allclose(to_numpy(h_n)[n], to_numpy(h_alone)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_split_over_threads_matches_torch_and_gradcheck(monkeypatch, reverse):
    # thresholds lowered so that a small layer runs its loop in two blocks of hidden units on two threads
    from sparktensor.nn.functional import _lstm_threads
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(_lstm_threads, "SPLIT_BY_UNITS", True)
    monkeypatch.setattr(_lstm_threads, "MIN_STEP_MACS", 0)
    monkeypatch.setattr(_lstm_threads, "MIN_BLOCK_UNITS", 1)
    threads = st.get_num_threads()
    st.set_num_threads(2)
    try:
        assert _lstm_threads.unit_blocks(np, 3, 2) == 2
        rng = np.random.default_rng(10)
        leaves = [st.tensor(rng.standard_normal(s) * 0.7, requires_grad=True)
                  for s in [(4, 2, 3), (2, 3), (2, 3), (12, 3), (12, 3), (12,), (12,)]]
        lengths = [4, 2]
        assert st.autograd.gradcheck(lambda *a: lstm_layer(*a, reverse=reverse, lengths=lengths), leaves)
        ours, theirs = _pair(LAYERS, "lstm", "cpu", np.float64, 8, 96, num_layers=2)
        _run_and_compare(ours, theirs, ours, theirs, [rng.standard_normal((6, 5, 8))], "cpu", np.float64)
    finally:
        st.set_num_threads(threads)
