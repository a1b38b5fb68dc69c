"""A WGAN-GP critic: the gradient penalty differentiates a gradient (``create_graph=True``).

The critic learns to tell two fixed 2-d point clouds apart while its gradient norm with respect to the input is
pulled towards 1 at points between them (Gulrajani et al., 2017). The penalty is a function of the critic's
input gradient, so training it needs the gradient of a gradient: ``st.autograd.grad(..., create_graph=True)``
records the first backward pass so that ``loss.backward()`` can go through it.
"""
import numpy as np

import sparktensor as st


def make_critic(hidden=32, dtype=st.float32):
    """A small MLP from 2-d points to one score."""
    return st.nn.Sequential(st.nn.Linear(2, hidden), st.nn.Tanh(), st.nn.Linear(hidden, hidden), st.nn.Tanh(),
                            st.nn.Linear(hidden, 1)).to(dtype)


def gradient_penalty(critic, real, fake, eps):
    """Mean of (|d critic / d x| - 1)^2 over points x = eps * real + (1 - eps) * fake."""
    between = (eps * real + (1 - eps) * fake).detach().requires_grad_()
    score = critic(between)
    grad, = st.autograd.grad(score.sum(), between, create_graph=True)
    norm = st.sqrt((grad * grad).sum(axis=1))
    return ((norm - 1) ** 2).mean()


def critic_loss(critic, real, fake, eps, weight=10.0):
    """WGAN-GP's critic loss: fake score minus real score, plus the weighted gradient penalty."""
    return critic(fake).mean() - critic(real).mean() + weight * gradient_penalty(critic, real, fake, eps)


def sample_clouds(rng, n):
    """Real points around (2, 2), fake points around the origin, and the mixing weights of the penalty."""
    real = rng.normal(2.0, 0.5, size=(n, 2)).astype(np.float32)
    fake = rng.normal(0.0, 1.0, size=(n, 2)).astype(np.float32)
    eps = rng.uniform(size=(n, 1)).astype(np.float32)
    return st.tensor(real), st.tensor(fake), st.tensor(eps)


def train(steps=200, n=128, lr=1e-3, seed=0, log=print):
    """Trains the critic; returns it and (step, Wasserstein estimate, penalty) every 50 steps."""
    st.manual_seed(seed)
    rng = np.random.default_rng(seed)
    critic = make_critic()
    optimizer = st.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))
    history = []
    for step in range(1, steps + 1):
        real, fake, eps = sample_clouds(rng, n)
        loss = critic_loss(critic, real, fake, eps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            with st.no_grad():
                distance = (critic(real).mean() - critic(fake).mean()).item()
            penalty = gradient_penalty(critic, real, fake, eps).item()
            history.append((step, distance, penalty))
            log(f"step {step:4d}  Wasserstein estimate {distance:.3f}  gradient penalty {penalty:.4f}")
    return critic, history


if __name__ == "__main__":
    train()
