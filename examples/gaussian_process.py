"""Gaussian-process regression whose kernel is fitted by gradient ascent on the log marginal likelihood.

The kernel is k(x, x') = variance * exp(-(x - x')^2 / (2 lengthscale^2)) plus noise on the diagonal; its three
hyperparameters are fitted on their log scale (so they stay positive) through ``st.linalg.cholesky``,
``st.linalg.solve`` and ``st.linalg.slogdet``, which autodiff differentiates like any other op.
"""
import math

import numpy as np

import sparktensor as st


def make_data(n=40, noise=0.1, seed=0):
    """A noisy sine on [-3, 3]: inputs x and targets y, both float64 tensors of shape (n,)."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3, 3, size=n))
    y = np.sin(2 * x) + noise * rng.normal(size=n)
    return st.tensor(x), st.tensor(y)


def kernel(xa, xb, log_lengthscale, log_variance):
    """The squared-exponential kernel matrix between the points xa (n,) and xb (m,)."""
    sq_dist = (xa.reshape(-1, 1) - xb.reshape(1, -1)) ** 2
    return st.exp(log_variance - 0.5 * sq_dist * st.exp(-2 * log_lengthscale))


def log_marginal_likelihood(x, y, log_lengthscale, log_variance, log_noise):
    """log p(y | x) = -y^T K^-1 y / 2 - log|K| / 2 - n log(2 pi) / 2, with K the kernel plus noise."""
    n = x.shape[0]
    covariance = kernel(x, x, log_lengthscale, log_variance) + st.exp(2 * log_noise) * st.eye(n, dtype=x.dtype)
    whitened = st.linalg.solve(st.linalg.cholesky(covariance), y.reshape(-1, 1))  # L^-1 y: y^T K^-1 y = |L^-1 y|^2
    _, logdet = st.linalg.slogdet(covariance)
    return -0.5 * (whitened ** 2).sum() - 0.5 * logdet - 0.5 * n * math.log(2 * math.pi)


def predict(x, y, x_new, log_lengthscale, log_variance, log_noise):
    """The posterior mean at x_new."""
    covariance = kernel(x, x, log_lengthscale, log_variance) + st.exp(2 * log_noise) * st.eye(x.shape[0],
                                                                                             dtype=x.dtype)
    weights = st.linalg.solve(covariance, y.reshape(-1, 1))
    return (kernel(x_new, x, log_lengthscale, log_variance) @ weights).reshape(-1)


def fit(x, y, steps=150, lr=0.05, start=(0.0, 0.0, -1.0), log=print):
    """Maximizes the log marginal likelihood with Adam; returns the log hyperparameters and the likelihood's path."""
    params = [st.tensor(value, dtype=st.float64, requires_grad=True) for value in start]
    optimizer = st.optim.Adam(params, lr=lr, maximize=True)
    history = []
    for step in range(steps + 1):
        likelihood = log_marginal_likelihood(x, y, *params)
        history.append(likelihood.item())
        if step % 50 == 0:
            lengthscale, variance, noise = (math.exp(p.item()) for p in params)
            log(f"step {step:4d}  log likelihood {history[-1]:9.3f}  lengthscale {lengthscale:.3f}  "
                f"variance {variance:.3f}  noise {noise:.3f}")
        if step == steps:
            break
        optimizer.zero_grad()
        likelihood.backward()
        optimizer.step()
    return params, history


if __name__ == "__main__":
    x, y = make_data()
    params, history = fit(x, y)
    lengthscale, variance, noise = (math.exp(p.item()) for p in params)
    print(f"fitted lengthscale {lengthscale:.3f}, variance {variance:.3f}, noise {noise:.3f} (true noise 0.100)")
    print(f"log marginal likelihood {history[0]:.3f} -> {history[-1]:.3f}")
    x_new = st.linspace(-3, 3, 7, dtype=st.float64)
    error = (predict(x, y, x_new, *params) - st.sin(2 * x_new)).abs().max().item()
    print(f"largest error of the posterior mean against sin(2x) at 7 points: {error:.3f}")
