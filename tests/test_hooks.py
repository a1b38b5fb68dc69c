"""Hooks as PyTorch's: forward (pre-)hooks, full backward hooks, Tensor.register_hook, Module.apply, with handles
that remove them; each against PyTorch on the same weights and inputs."""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy


def pair(device, seed=0):
    """The same two-layer network in both libraries."""
    torch.manual_seed(seed)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).double()
    ours = st.nn.Sequential(st.nn.Linear(4, 3), st.nn.Tanh(), st.nn.Linear(3, 2)).double().to(device)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def inputs(device):
    x = np.random.default_rng(3).standard_normal((5, 4))
    return st.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)


def test_forward_hooks_see_and_replace_arguments_and_outputs(device):
    ours, theirs = pair(device)
    x, tx = inputs(device)
    records = {"ours": [], "theirs": []}
    for net, key in ((ours, "ours"), (theirs, "theirs")):
        net[0].register_forward_pre_hook(lambda m, args: (args[0] * 2,))
        net[0].register_forward_hook(lambda m, args, out, k=key: records[k].append(np.array(out.detach().tolist())))
        net[2].register_forward_hook(lambda m, args, out: out + 1)
    y, ty = ours(x), theirs(tx)
    np.testing.assert_allclose(to_numpy(y.detach()), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(records["ours"][0], records["theirs"][0], rtol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)


def test_hook_kwargs_prepend_and_remove(device):
    lin = st.nn.Linear(2, 2).to(device)
    order = []
    first = lin.register_forward_hook(lambda m, a, o: order.append("first"))
    lin.register_forward_hook(lambda m, a, o: order.append("prepended"), prepend=True)
    lin.register_forward_pre_hook(lambda m, args, kwargs: ((args[0] * 0,), kwargs), with_kwargs=True)
    lin.register_forward_hook(lambda m, args, kwargs, out: order.append(sorted(kwargs)), with_kwargs=True)
    out = lin(st.ones(1, 2, device=device))
    np.testing.assert_allclose(to_numpy(out.detach()), to_numpy(lin.bias.detach())[None])
    assert order == ["prepended", "first", []]
    first.remove()
    first.remove()  # twice is harmless, as PyTorch's
    order.clear()
    lin(st.ones(1, 2, device=device))
    assert order == ["prepended", []]
    with lin.register_forward_hook(lambda m, a, o: order.append("scoped")):
        lin(st.ones(1, 2, device=device))
    lin(st.ones(1, 2, device=device))
    assert order.count("scoped") == 1


def test_full_backward_hook_matches_torch_and_can_replace_grad_input(device):
    ours, theirs = pair(device)
    x, tx = inputs(device)
    seen = {"ours": [], "theirs": []}

    def hook(key):
        def record(module, grad_input, grad_output):
            seen[key].append(([None if g is None else np.array(g.tolist()) for g in grad_input],
                              [np.array(g.tolist()) for g in grad_output]))
            return tuple(None if g is None else g * 3 for g in grad_input)
        return record

    for net, key in ((ours, "ours"), (theirs, "theirs")):
        net[2].register_full_backward_hook(hook(key))
        net[0].register_full_backward_hook(hook(key))
    upstream = np.random.default_rng(4).standard_normal((5, 2))
    ours(x).backward(st.tensor(upstream, device=device))
    theirs(tx).backward(torch.tensor(upstream))
    assert len(seen["ours"]) == len(seen["theirs"]) == 2
    for (gi, go), (tgi, tgo) in zip(seen["ours"], seen["theirs"]):
        for a, b in zip(gi + go, tgi + tgo):
            np.testing.assert_allclose(a, b, rtol=1e-10)
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(to_numpy(ours[0].weight.grad), theirs[0].weight.grad.numpy(), rtol=1e-10)


def test_backward_hook_on_an_input_that_needs_no_grad_gets_none(device):
    lin, tlin = st.nn.Linear(3, 2).to(device), torch.nn.Linear(3, 2)
    got = {}
    lin.register_full_backward_hook(lambda m, gi, go: got.update(ours=(gi, go)))
    tlin.register_full_backward_hook(lambda m, gi, go: got.update(theirs=(gi, go)))
    lin(st.ones(2, 3, device=device)).sum().backward()
    tlin(torch.ones(2, 3)).sum().backward()
    assert got["ours"][0] == got["theirs"][0] == (None,)
    assert got["ours"][1][0].shape == tuple(got["theirs"][1][0].shape)


def test_tensor_hooks_as_torch(device):
    x, tx = inputs(device)
    results = []
    for lib, t in (("ours", x), ("theirs", tx)):
        y = t * 2
        y.register_hook(lambda g: g * 10)            # replaces the gradient flowing on
        t.register_hook(lambda g, r=results: r.append(np.array(g.tolist())))
        handle = t.register_hook(lambda g: g + 1)    # a leaf's hook changes what accumulates
        (y ** 2).sum().backward()
        handle.remove()
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="does not require grad"):
        st.ones(2, device=device).register_hook(lambda g: g)


def test_module_apply_visits_children_first_in_torch_order():
    ours = st.nn.Sequential(st.nn.Sequential(st.nn.Linear(1, 1), st.nn.ReLU()), st.nn.Linear(1, 1))
    theirs = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.ReLU()), torch.nn.Linear(1, 1))
    order, torder = [], []
    assert ours.apply(lambda m: order.append(type(m).__name__)) is ours
    theirs.apply(lambda m: torder.append(type(m).__name__))
    assert order == torder


def test_module_apply_initializes_as_torch():
    def init(m):
        if isinstance(m, (st.nn.Linear, torch.nn.Linear)):
            (st if isinstance(m, st.nn.Module) else torch).nn.init.constant_(m.weight, 0.5)
    ours, theirs = st.nn.Sequential(st.nn.Linear(2, 2)), torch.nn.Sequential(torch.nn.Linear(2, 2))
    ours.apply(init)
    theirs.apply(init)
    np.testing.assert_array_equal(ours[0].weight.numpy(), theirs[0].weight.detach().numpy())
