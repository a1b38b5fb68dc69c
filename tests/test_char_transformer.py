"""The zoo's character-level Transformer: PyTorch's equal network gives the same logits and gradients, position i
sees only positions 0..i, and it learns a periodic text."""
import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.nn.functional as F
from sparktensor import models


class TorchCharTransformer(torch.nn.Module):
    """The same network from PyTorch's layers, with the same submodule names."""

    def __init__(self, vocab, d_model, nhead, layers, max_len):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d_model)
        self.position = torch.nn.Embedding(max_len, d_model)
        layer = torch.nn.TransformerEncoderLayer(d_model, nhead, 4 * d_model, 0.0, activation="gelu",
                                                 batch_first=True, norm_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(d_model)
        self.head = torch.nn.Linear(d_model, vocab)

    def forward(self, ids):
        length = ids.shape[1]
        x = self.embed(ids) + self.position(torch.arange(length))
        mask = torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=x.dtype)
        return self.head(self.norm(self.encoder(x, mask=mask, is_causal=True))).transpose(1, 2)


def test_logits_and_gradients_equal_pytorchs():
    theirs = TorchCharTransformer(11, 16, 2, 2, 12).double()
    ours = models.CharTransformer(11, d_model=16, nhead=2, layers=2, max_len=12, dropout=0.0).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, 11, (3, 9)), rng.integers(0, 11, (3, 9))
    out = ours(st.tensor(ids))
    out_t = theirs(torch.tensor(ids))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-10)
    F.cross_entropy(out, st.tensor(targets)).backward()
    torch.nn.functional.cross_entropy(out_t, torch.tensor(targets)).backward()
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=1e-9, atol=1e-10, err_msg=name)


def test_position_i_sees_only_the_past():
    model = models.CharTransformer(7, d_model=8, nhead=2, layers=2, max_len=10, dropout=0.0).double()
    ids = np.random.default_rng(1).integers(0, 7, (2, 10))
    changed = ids.copy()
    changed[:, 6] = (changed[:, 6] + 1) % 7
    a, b = model(st.tensor(ids)).numpy(), model(st.tensor(changed)).numpy()
    np.testing.assert_array_equal(a[:, :, :6], b[:, :, :6])
    assert np.abs(a[:, :, 6:] - b[:, :, 6:]).min(axis=1).max() > 0


def test_learns_a_periodic_text():
    st.manual_seed(0)
    text = np.tile(np.array([3, 1, 4, 1, 5, 9, 2, 6]), 40)
    model = models.CharTransformer(10, d_model=16, nhead=2, layers=2, max_len=16, dropout=0.0)
    optimizer = st.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(2)
    losses = []
    for _ in range(60):
        starts = rng.integers(0, len(text) - 17, 16)
        x = np.stack([text[s:s + 16] for s in starts])
        y = np.stack([text[s + 1:s + 17] for s in starts])
        loss = F.cross_entropy(model(st.tensor(x)), st.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # after the first few characters of a window the next one is determined (1 is followed by 4 or 5: the
    # window must see the character before it)
    assert losses[0] > 2.0 and np.mean(losses[-5:]) < 0.3


def test_too_long_a_sequence_is_named():
    model = models.CharTransformer(5, d_model=8, nhead=2, layers=1, max_len=4)
    with pytest.raises(ValueError, match="longer than max_len 4"):
        model(st.tensor(np.zeros((1, 5), np.int64)))
