"""``ParameterList`` and ``ParameterDict`` against PyTorch's: registration, state-dict keys, loading PyTorch's
weights, training through an optimizer, list and dict operations, and what they refuse."""
import numpy as np
import pytest
import torch

import sparktensor as st


def build(lib):
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ParameterList([nn.Parameter(lib.ones(3, 2)), lib.ones(2, 2) * 0.5])
            self.affine = nn.ParameterDict({"scale": lib.ones(2), "shift": nn.Parameter(lib.zeros(2))})

        def forward(self, x):
            for w in self.layers:
                x = x @ w
            return x * self.affine["scale"] + self.affine["shift"]
    return Net()


def test_parameters_register_and_train_as_torchs(rng):
    ours, theirs = build(st), build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["layers.0", "layers.1", "affine.scale",
                                                                    "affine.shift"]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 4
    assert all(isinstance(p, st.nn.Parameter) for p in ours.parameters())
    x = rng.standard_normal((4, 3)).astype(np.float32)
    target = rng.standard_normal((4, 2)).astype(np.float32)
    optimizers = st.optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    for _ in range(3):
        for model, optimizer, lib in ((ours, optimizers[0], st), (theirs, optimizers[1], torch)):
            loss = lib.nn.functional.mse_loss(model(lib.tensor(x)), lib.tensor(target))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    expected = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value.numpy(), expected[key].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_list_and_dict_operations():
    params = st.nn.ParameterList()
    params.append(st.ones(2)).extend([st.zeros(3), st.nn.Parameter(st.ones(1))])
    assert len(params) == 3 and [p.shape for p in params] == [(2,), (3,), (1,)]
    assert isinstance(params[1:], st.nn.ParameterList) and len(params[1:]) == 2
    params[0] = st.full((4,), 2.0)
    assert params[0].shape == (4,) and params[-1].shape == (1,)
    table = st.nn.ParameterDict([("a", st.ones(2))])
    table.update({"b": st.zeros(2)})
    table["c"] = st.nn.Parameter(st.ones(3))
    assert list(table) == list(table.keys()) == ["a", "b", "c"] and "b" in table and len(table) == 3
    assert table.get("z") is None and table.pop("a").shape == (2,)
    del table["b"]
    assert list(table.keys()) == ["c"]
    assert "(0): Parameter of shape (4,)" in repr(params)


def test_containers_refuse_what_is_not_a_tensor():
    with pytest.raises(TypeError, match="Parameter or a tensor, got list"):
        st.nn.ParameterList([[1.0, 2.0]])
    with pytest.raises(TypeError, match="keys are strings"):
        st.nn.ParameterDict()[0] = st.ones(1)
