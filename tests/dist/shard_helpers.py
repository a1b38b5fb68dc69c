"""Helpers of the model-parallel tests: run a sharded model on M threads and compare it with the ordinary one."""
import numpy as np

import sparktensor as st
import sparktensor.dist as dist
from sparktensor.dist.comm import run_threads
from sparktensor.dist.sharding import split_parameters


def reference(model, x, y, loss):
    """Output and ``{name: gradient}`` of the ordinary model on one batch."""
    model.zero_grad()
    out = model(st.tensor(x))
    loss(out, st.tensor(y)).backward()
    return out.numpy(), {name: p.grad.numpy() for name, p in model.named_parameters()}


def sharded_step(comm, model, x, y, loss):
    """On one rank: shard ``model``, run one forward and backward; returns the output, share and gradients."""
    sharded = dist.shard(model, comm)
    out = sharded(st.tensor(x))
    loss(out, st.tensor(y)).backward()
    grads = {name: p.grad.numpy() for name, p in sharded.named_parameters()}
    return out.numpy(), sharded, grads


def run_sharded(model, x, y, loss, world_size):
    """Every rank's output, and the ranks' gradients joined into whole arrays keyed like the model's parameters."""
    results = run_threads(sharded_step, world_size, model, x, y, loss)
    outputs = [out for out, _, _ in results]
    shares = [share for _, share, _ in results]
    splits = split_parameters(shares[0])
    grads = {}
    for name in results[0][2]:
        pieces = [g[name] for _, _, g in results]
        if name in splits:
            grads[name] = splits[name].join(pieces)
        else:
            for rank, piece in enumerate(pieces[1:], 1):  # a replicated parameter gets the same gradient everywhere
                np.testing.assert_array_equal(piece, pieces[0], err_msg=f"{name} on rank {rank}")
            grads[name] = pieces[0]
    return outputs, shares, grads


def directional_derivative(comm, model, x, y, loss, eps=1e-6):
    """On one rank: the sharded loss's derivative along a random direction, by backward and by central differences.

    Split parameters move along a direction drawn per rank; replicated ones along one direction shared by all
    ranks (so the replicas stay equal). Both numbers are the same on every rank.
    """
    sharded = dist.shard(model, comm)
    splits = split_parameters(sharded)
    named = list(sharded.named_parameters())
    own = np.random.default_rng([7, comm.rank])
    shared = np.random.default_rng(7)
    directions = {name: (own if name in splits else shared).standard_normal(p.shape) for name, p in named}

    def loss_at(step):
        with st.no_grad():
            for name, p in named:
                p.data += step * directions[name]
            value = float(loss(sharded(st.tensor(x)), st.tensor(y)).item())
            for name, p in named:
                p.data -= step * directions[name]
        return value

    loss(sharded(st.tensor(x)), st.tensor(y)).backward()
    split_part = sum(float((p.grad.numpy() * directions[n]).sum()) for n, p in named if n in splits)
    replicated_part = sum(float((p.grad.numpy() * directions[n]).sum()) for n, p in named if n not in splits)
    analytic = float(comm.all_reduce(np.array(split_part))) + replicated_part
    numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    return analytic, numeric


def held_bytes(module, optimizer=None):
    """Bytes of the module's parameters, plus the optimizer's state tensors when given."""
    total = sum(p.data.nbytes for p in module.parameters())
    if optimizer is not None:
        total += sum(v.data.nbytes for state in optimizer.state.values() for v in state.values()
                     if isinstance(v, st.Tensor))
    return total
