"""Padded and packed sequences (``nn.utils.rnn``) and the recurrent layers on them, against PyTorch in float64."""
import numpy as np
import pytest
import torch

import sparktensor as st
from sparktensor.nn.functional.rnn import gru_layer, lstm_layer, rnn_layer
from sparktensor.nn.utils import rnn as R
from backends import to_numpy

T = torch.nn.utils.rnn
FEATURES, HIDDEN = 3, 4
LAYERS = {
    "rnn_tanh": (st.nn.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (st.nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (st.nn.LSTM, torch.nn.LSTM, {}),
    "gru": (st.nn.GRU, torch.nn.GRU, {}),
}
TOL = {"rtol": 1e-10, "atol": 1e-12}


def _pair(kind, device, **options):
    """A PyTorch layer and ours with the same float64 weights."""
    ours_cls, theirs_cls, extra = LAYERS[kind]
    torch.manual_seed(0)
    theirs = theirs_cls(FEATURES, HIDDEN, **extra, **options).double()
    ours = ours_cls(FEATURES, HIDDEN, **extra, **options).to(device, st.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _states(result):
    """The final states of ``(output, h_n)`` or ``(output, (h_n, c_n))`` as a list."""
    states = result[1]
    return list(states) if isinstance(states, tuple) else [states]


def _leaves(array, device):
    return st.tensor(array, device=device, requires_grad=True), torch.tensor(array, requires_grad=True)


@pytest.mark.parametrize("sorted_lengths", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("initial", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", LAYERS)
def test_packed_batch_matches_torch(device, kind, num_layers, bidirectional, batch_first, initial, sorted_lengths):
    ours, theirs = _pair(kind, device, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    lengths = [6, 4, 4, 2, 1] if sorted_lengths else [2, 6, 1, 4, 3]
    rng = np.random.default_rng(1)
    shape = (5, 6, FEATURES) if batch_first else (6, 5, FEATURES)
    x, xt = _leaves(rng.standard_normal(shape), device)
    count = num_layers * (2 if bidirectional else 1)
    initial_states = [_leaves(rng.standard_normal((count, 5, HIDDEN)), device) for _ in range(2 if kind == "lstm"
                                                                                             else 1)]
    packed = R.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=sorted_lengths)
    packed_t = T.pack_padded_sequence(xt, lengths, batch_first=batch_first, enforce_sorted=sorted_lengths)
    if initial:
        hx = tuple(s for s, _ in initial_states) if kind == "lstm" else initial_states[0][0]
        hx_t = tuple(s for _, s in initial_states) if kind == "lstm" else initial_states[0][1]
        result, result_t = ours(packed, hx), theirs(packed_t, hx_t)
    else:
        result, result_t = ours(packed), theirs(packed_t)

    out, out_t = result[0], result_t[0]
    assert isinstance(out, R.PackedSequence)
    np.testing.assert_array_equal(out.batch_sizes.numpy(), out_t.batch_sizes.numpy())
    if not sorted_lengths:
        np.testing.assert_array_equal(out.unsorted_indices.numpy(), out_t.unsorted_indices.numpy())
    outputs = [out.data, *_states(result)]
    expected = [out_t.data, *_states(result_t)]
    for o, e in zip(outputs, expected):
        np.testing.assert_allclose(to_numpy(o), e.detach().numpy(), **TOL)

    cotangents = [rng.standard_normal(tuple(e.shape)) for e in expected]
    st.autograd.backward(outputs, [st.tensor(u, device=device) for u in cotangents])
    torch.autograd.backward(expected, [torch.tensor(u) for u in cotangents])
    np.testing.assert_allclose(to_numpy(x.grad), xt.grad.numpy(), **TOL)
    if initial:
        for s, s_t in initial_states:
            np.testing.assert_allclose(to_numpy(s.grad), s_t.grad.numpy(), **TOL)
    reference = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), reference[name].grad.numpy(), **TOL, err_msg=name)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_final_states_ignore_the_padding(device, kind):
    # the states of a padded batch are those of each sequence run alone, whatever the padding holds
    ours, _ = _pair(kind, device, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(2)
    lengths = [3, 5, 2]
    sequences = [rng.standard_normal((n, FEATURES)) for n in lengths]
    padded = R.pad_sequence([st.tensor(s, device=device) for s in sequences], padding_value=9.0)
    result = ours(R.pack_padded_sequence(padded, lengths, enforce_sorted=False))
    output, lengths_back = R.pad_packed_sequence(result[0])
    states = _states(result)
    np.testing.assert_array_equal(lengths_back.numpy(), lengths)
    for i, s in enumerate(sequences):
        alone = ours(st.tensor(s[:, None], device=device))
        np.testing.assert_allclose(to_numpy(output[:lengths[i], i]), to_numpy(alone[0][:, 0]), **TOL)
        assert not to_numpy(output[lengths[i]:, i]).any()
        for state, state_alone in zip(states, _states(alone)):
            np.testing.assert_allclose(to_numpy(state[:, i]), to_numpy(state_alone[:, 0]), **TOL)


@pytest.mark.parametrize("reverse", [False, True])
def test_layers_with_lengths_gradcheck(device, reverse):
    rng = np.random.default_rng(3)

    def leaf(*shape):
        return st.tensor(rng.standard_normal(shape) * 0.7, dtype=st.float64, device=device, requires_grad=True)
    lengths = [2, 4, 1]
    x, h0, c0 = leaf(4, 3, 3), leaf(3, 2), leaf(3, 2)
    lstm = [leaf(8, 3), leaf(8, 2), leaf(8), leaf(8)]
    assert st.autograd.gradcheck(lambda *a: lstm_layer(*a, reverse=reverse, lengths=lengths), [x, h0, c0, *lstm])
    gru = [leaf(6, 3), leaf(6, 2), leaf(6), leaf(6)]
    assert st.autograd.gradcheck(lambda *a: gru_layer(*a, reverse=reverse, lengths=lengths), [x, h0, *gru])
    rnn = [leaf(2, 3), leaf(2, 2), leaf(2), leaf(2)]
    assert st.autograd.gradcheck(lambda *a: rnn_layer(*a, reverse=reverse, lengths=lengths), [x, h0, *rnn])


def test_layer_lengths_give_no_gradient_to_the_padding(device):
    x = st.tensor(np.random.default_rng(4).standard_normal((5, 2, 3)), device=device, requires_grad=True)
    w = [st.tensor(np.random.default_rng(5).standard_normal(s), device=device) for s in [(8, 3), (8, 2)]]
    y, h, c = lstm_layer(x, None, None, *w, reverse=True, lengths=st.tensor([2, 5]))
    (y.sum() + h.sum() + c.sum()).backward()
    gx = to_numpy(x.grad)
    assert not gx[2:, 0].any() and gx[:2, 0].all() and gx[:, 1].all()


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence_matches_torch(device, batch_first, padding_side):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((n, 2, 3)) for n in (3, 1, 4)]
    ours = [st.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = R.pad_sequence(ours, batch_first=batch_first, padding_value=-2.5, padding_side=padding_side)
    y_t = T.pad_sequence(theirs, batch_first=batch_first, padding_value=-2.5, padding_side=padding_side)
    np.testing.assert_array_equal(to_numpy(y), y_t.detach().numpy())
    u = rng.standard_normal(y_t.shape)
    y.backward(st.tensor(u, device=device))
    y_t.backward(torch.tensor(u))
    for a, a_t in zip(ours, theirs):
        np.testing.assert_array_equal(to_numpy(a.grad), a_t.grad.numpy())


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_round_trip_matches_torch(device, batch_first, enforce_sorted):
    rng = np.random.default_rng(7)
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    x, xt = _leaves(rng.standard_normal((4, 6, 2) if batch_first else (6, 4, 2)), device)
    packed = R.pack_padded_sequence(x, st.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)
    packed_t = T.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                      enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(to_numpy(packed.data), packed_t.data.detach().numpy())
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), packed_t.batch_sizes.numpy())
    for ours, theirs in zip(packed[2:], packed_t[2:]):
        assert (ours is None) == (theirs is None)
        if ours is not None:
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    y, y_lengths = R.pad_packed_sequence(packed, batch_first=batch_first, padding_value=7.0, total_length=7)
    y_t, y_lengths_t = T.pad_packed_sequence(packed_t, batch_first=batch_first, padding_value=7.0, total_length=7)
    np.testing.assert_array_equal(to_numpy(y), y_t.detach().numpy())
    np.testing.assert_array_equal(y_lengths.numpy(), y_lengths_t.numpy())
    assert y_lengths.dtype == st.int64
    u = rng.standard_normal(y_t.shape)
    y.backward(st.tensor(u, device=device))
    y_t.backward(torch.tensor(u))
    np.testing.assert_array_equal(to_numpy(x.grad), xt.grad.numpy())


def test_pack_sequence_and_unpack_match_torch(device):
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((n, 2)) for n in (2, 4, 3)]
    packed = R.pack_sequence([st.tensor(a, device=device) for a in arrays], enforce_sorted=False)
    packed_t = T.pack_sequence([torch.tensor(a) for a in arrays], enforce_sorted=False)
    np.testing.assert_array_equal(to_numpy(packed.data), packed_t.data.numpy())
    for ours, theirs in zip(R.unpack_sequence(packed), T.unpack_sequence(packed_t)):
        np.testing.assert_array_equal(to_numpy(ours), theirs.numpy())
    padded, lengths = R.pad_packed_sequence(packed)
    for ours, a in zip(R.unpad_sequence(padded, lengths), arrays):
        np.testing.assert_array_equal(to_numpy(ours), a)
    assert R.pack_sequence([st.tensor(a) for a in arrays], enforce_sorted=False).to(st.float32).data.dtype == \
        st.float32


def test_bad_sequences_raise_clear_errors(device):
    x = st.zeros(4, 3, 2, device=device)
    with pytest.raises(RuntimeError, match="enforce_sorted=False"):
        R.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(ValueError, match="between 1 and the 4 steps"):
        R.pack_padded_sequence(x, [5, 3, 1])
    with pytest.raises(ValueError, match="between 1 and the 4 steps"):
        R.pack_padded_sequence(x, [3, 2, 0])
    with pytest.raises(ValueError, match="2 lengths for a batch of 3"):
        R.pack_padded_sequence(x, [3, 2])
    with pytest.raises(TypeError, match="integers"):
        R.pack_padded_sequence(x, [3.0, 2.0, 1.0])
    with pytest.raises(TypeError, match="PackedSequence"):
        R.pad_packed_sequence(x)
    with pytest.raises(ValueError, match="total_length=2"):
        R.pad_packed_sequence(R.pack_padded_sequence(x, [3, 2, 1]), total_length=2)
    with pytest.raises(ValueError, match="agree on every axis"):
        R.pad_sequence([st.zeros(2, 3), st.zeros(2, 4)])
    with pytest.raises(ValueError, match="lengths needs one entry"):
        lstm_layer(x, None, None, st.zeros(8, 2), st.zeros(8, 2), lengths=[1, 2])
    lstm = st.nn.LSTM(2, 2).to(device)
    with pytest.raises(ValueError, match=r"h_0 of shape \(1, 3, 2\)"):
        lstm(R.pack_padded_sequence(x, [3, 2, 1]), (st.zeros(1, 2, 2, device=device),) * 2)
    with pytest.raises(ValueError, match="5 features per step"):
        st.nn.GRU(5, 2).to(device)(R.pack_padded_sequence(x, [3, 2, 1]))
