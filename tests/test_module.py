"""Module API: registration, traversal, modes, devices, state dicts, repr, init, save/load."""
import numpy as np
import pytest
import torch
from safetensors.torch import load_file as torch_load_file, save_file as torch_save_file

import sparktensor as st
import sparktensor.nn as nn
from backends import to_numpy


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))
        self.norm = nn.BatchNorm1d(8)
        self.heads = nn.ModuleDict({"a": nn.Linear(8, 2), "b": nn.Linear(8, 3)})
        self.extra = nn.ModuleList([nn.Linear(2, 2)])
        self.scale = nn.Parameter(st.ones(1))

    def forward(self, x):
        h = self.norm(self.body(x))
        return self.heads["a"](h) * self.scale, self.heads["b"](h)


def torch_net():
    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8))
            self.norm = torch.nn.BatchNorm1d(8)
            self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(8, 2), "b": torch.nn.Linear(8, 3)})
            self.extra = torch.nn.ModuleList([torch.nn.Linear(2, 2)])
            self.scale = torch.nn.Parameter(torch.ones(1))
    return TNet()


def test_state_dict_keys_and_shapes_match_pytorch():
    ours, theirs = Net().state_dict(), torch_net().state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert tuple(ours[k].shape) == tuple(theirs[k].shape), k


def test_parameters_children_modules(device):
    net = Net().to(device)
    names = [n for n, _ in net.named_parameters()]
    assert names[:2] == ["scale", "body.0.weight"] or "scale" in names
    assert len(list(net.parameters())) == 2 + 2 + 2 + 2 + 2 + 2 + 1
    assert [n for n, _ in net.named_children()] == ["body", "norm", "heads", "extra"]
    assert sum(1 for _ in net.modules()) == 11
    assert [n for n, _ in net.named_buffers()] == ["norm.running_mean", "norm.running_var", "norm.num_batches_tracked"]
    assert all(p.device == st.backend.parse_device(device) for p in net.parameters())


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(3, 3)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(net.parameters())) == 2


def test_train_eval_zero_grad(device):
    net = Net().to(device)
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    a, b = net(st.randn(5, 4, device=device))
    (a.sum() + b.sum()).backward()
    assert all(p.grad is not None for n, p in net.named_parameters() if not n.startswith("extra"))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_load_state_dict_from_pytorch_gives_same_outputs(device):
    ours, theirs = Net().to(device), torch_net()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    h = theirs.norm(theirs.body(torch.tensor(x)))
    np.testing.assert_allclose(to_numpy(ours(st.tensor(x, device=device))[1]), theirs.heads["b"](h).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_load_state_dict_mismatch_lists_everything_and_changes_nothing(device):
    net = Net().to(device)
    before = {k: to_numpy(v).copy() for k, v in net.state_dict().items()}
    sd = {k: v for k, v in net.state_dict().items() if k != "norm.running_var"}
    sd["body.0.weight"] = st.zeros(8, 5)
    sd["stray.weight"] = st.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    message = str(info.value)
    assert "missing keys: norm.running_var" in message
    assert "unexpected keys: stray.weight" in message
    assert "body.0.weight: checkpoint (8, 5), model (8, 4)" in message
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(to_numpy(v), before[k])
    missing, unexpected = net.load_state_dict({"scale": st.full((1,), 3.0)}, strict=False)
    assert "scale" not in missing and to_numpy(net.scale)[0] == 3.0


def test_to_dtype_and_repr():
    net = Net().double()
    assert all(p.dtype == st.float64 for p in net.parameters())
    assert net.norm.num_batches_tracked.dtype == st.int64
    text = repr(net)
    assert "(body): Sequential(" in text and "(0): Linear(in_features=4, out_features=8, bias=True)" in text
    assert "BatchNorm1d(8, eps=1e-05, momentum=0.1" in text


def test_setting_attributes_before_init_is_explained():
    class Forgot(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


@pytest.mark.parametrize("name, kwargs", [("xavier_uniform_", {}), ("xavier_normal_", {}),
                                          ("kaiming_uniform_", {"nonlinearity": "relu"}),
                                          ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
                                          ("uniform_", {"a": -2, "b": 3}), ("normal_", {"mean": 1, "std": 2})])
def test_init_statistics_match_pytorch(device, name, kwargs):
    ours = st.empty(400, 300, device=device)
    theirs = torch.empty(400, 300)
    getattr(nn.init, name)(ours, **kwargs)
    getattr(torch.nn.init, name)(theirs, **kwargs)
    a, b = to_numpy(ours), theirs.numpy()
    np.testing.assert_allclose(a.std(), b.std(), rtol=0.02)
    np.testing.assert_allclose(a.mean(), b.mean(), atol=0.02 * b.std() + 1e-3)
    np.testing.assert_allclose([a.min(), a.max()] if "uniform" in name else a.std(),
                               [b.min(), b.max()] if "uniform" in name else b.std(), rtol=0.02)


def test_orthogonal_init(device):
    w = nn.init.orthogonal_(st.empty(6, 10, device=device), gain=2.0)
    m = to_numpy(w)
    np.testing.assert_allclose(m @ m.T, 4 * np.eye(6), atol=1e-5)
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_save_load_roundtrip(tmp_path, device, suffix):
    net = Net().to(device)
    path = tmp_path / f"net{suffix}"
    st.save(net.state_dict(), path)
    loaded = st.load(path, device=device)
    assert list(loaded) == list(net.state_dict())
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(to_numpy(loaded[k]), to_numpy(v))
        assert loaded[k].dtype == v.dtype
    nested = {"state": {0: {"step": st.tensor(3.0), "exp_avg": st.ones(2, 2)}},
              "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99), "params": [0], "nesterov": False}]}
    st.save(nested, tmp_path / f"opt{suffix}")
    back = st.load(tmp_path / f"opt{suffix}")
    assert back["param_groups"] == nested["param_groups"]
    assert back["state"][0]["step"].shape == () and back["state"][0]["step"].item() == 3.0


def test_safetensors_interchange_with_pytorch(tmp_path):
    net = Net()
    st.save(net.state_dict(), tmp_path / "ours.safetensors")
    theirs = torch_net()
    theirs.load_state_dict(torch_load_file(tmp_path / "ours.safetensors"))
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), to_numpy(net.state_dict()[k]))
    torch_save_file(torch_net().state_dict(), tmp_path / "theirs.safetensors")
    net.load_state_dict(st.load(tmp_path / "theirs.safetensors"))


def test_save_is_atomic_and_load_names_bad_files(tmp_path):
    path = tmp_path / "w.safetensors"
    st.save({"w": st.ones(3)}, path)
    with pytest.raises(TypeError, match="no pickle"):
        st.save({"w": st.ones(3), "f": object()}, path)
    np.testing.assert_array_equal(st.load(path)["w"].numpy(), np.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match="cut.safetensors.*corrupt or truncated"):
        st.load(tmp_path / "cut.safetensors")
    with pytest.raises(FileNotFoundError, match="nothere"):
        st.load(tmp_path / "nothere.npz")


def test_pytorch_saved_lenet_and_lstm_reproduce_here(tmp_path):
    """Weights PyTorch wrote with safetensors load here and give PyTorch's outputs."""
    t = torch.nn
    torch.manual_seed(0)
    lenet_t = t.Sequential(t.Conv2d(1, 6, 5, padding=2), t.ReLU(), t.MaxPool2d(2), t.Conv2d(6, 16, 5), t.ReLU(),
                           t.MaxPool2d(2), t.Flatten(), t.Linear(400, 120), t.ReLU(), t.Linear(120, 84), t.ReLU(),
                           t.Linear(84, 10))
    lstm_t = t.LSTM(12, 32, num_layers=2, batch_first=True, bidirectional=True)
    torch_save_file(lenet_t.state_dict(), tmp_path / "lenet.safetensors")
    torch_save_file(lstm_t.state_dict(), tmp_path / "lstm.safetensors")

    lenet = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                          nn.ReLU(), nn.Linear(84, 10))
    lstm = nn.LSTM(12, 32, num_layers=2, batch_first=True, bidirectional=True)
    lenet.load_state_dict(st.load(tmp_path / "lenet.safetensors"))
    lstm.load_state_dict(st.load(tmp_path / "lstm.safetensors"))

    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    series = rng.standard_normal((3, 9, 12)).astype(np.float32)
    with torch.no_grad():
        expected_lenet = lenet_t(torch.tensor(images)).numpy()
        expected_out, (expected_h, expected_c) = lstm_t(torch.tensor(series))
    np.testing.assert_allclose(lenet(st.tensor(images)).numpy(), expected_lenet, rtol=1e-5, atol=1e-6)
    out, (h, c) = lstm(st.tensor(series))
    for ours, theirs in ((out, expected_out), (h, expected_h), (c, expected_c)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
