"""The examples train on small slices of the real data sets (full runs are in bench/)."""
import math
import pathlib
import sys

import numpy as np
import pytest

import sparktensor as st
from sparktensor.data import DatasetMissingError

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))


def _needs(loader, *args):
    try:
        loader(*args)
    except DatasetMissingError as e:
        pytest.skip(str(e))


def test_lenet_learns_on_a_slice_of_fashion_mnist():
    from sparktensor.data import load_fashion_mnist
    _needs(load_fashion_mnist)
    import fashion_mnist_lenet as example
    logs = []
    model, history = example.train(epochs=1, limit=3000, log=logs.append)
    assert history[-1] > 0.6, logs
    assert sum(p.size for p in model.parameters()) == 61706  # LeNet-5's parameter count


def test_char_lstm_learns_on_a_slice_of_shakespeare():
    from sparktensor.data import load_shakespeare
    _needs(load_shakespeare)
    import shakespeare_char_lstm as example
    logs = []
    model, vocab, history = example.train(steps=60, seq_len=32, batch_size=16, hidden=64, layers=1, lr=1e-2,
                                          text_limit=300_000, log=logs.append, eval_every=60)
    assert history[-1][1] < 3.3, logs  # log(vocabulary size) is about 4.3 nats/char
    assert example.sample(model, vocab, length=20).startswith("ROMEO:")


def test_char_lstm_loss_curve_matches_pytorch():
    """Same model, initial weights, batches and optimizer: losses within 1% over the first 100 steps."""
    from sparktensor.data import load_shakespeare
    _needs(load_shakespeare)
    import char_lstm_vs_pytorch
    pairs = char_lstm_vs_pytorch.loss_pairs(steps=100, seq_len=35, batch_size=16, embed=32, hidden=64, chars=200_000)
    for step, (ours, theirs) in enumerate(pairs):
        assert ours == pytest.approx(theirs, rel=0.01), f"step {step}"


def test_lstm_classifier_on_japanese_vowels():
    from sparktensor.data import load_ucr
    _needs(load_ucr, "JapaneseVowels")
    import japanese_vowels_lstm as example
    logs = []
    _, accuracy = example.train(epochs=8, log=logs.append)
    assert accuracy >= 0.9, logs


@pytest.mark.parametrize("parallel", ["data", "model"])
def test_char_transformer_learns_data_parallel_and_split_over_two_ranks(parallel):
    from sparktensor.data import load_shakespeare
    _needs(load_shakespeare)
    import shakespeare_transformer as example
    import sparktensor.dist as dist
    logs = []
    model, history = example.train(parallel, dist.LocalEngine(workers=2), steps=40, tau=5, seq_len=32,
                                   batch_size=16, d_model=32, layers=1, lr=1e-2, warmup=5, eval_every=20,
                                   text_limit=300_000, log=logs.append)
    assert [step for step, _, _ in history] == [20, 40], logs
    assert history[-1][1] < min(history[0][1], 3.2), logs  # the unigram entropy of this text is 3.37 nats/char
    assert history[0][2] < history[1][2], logs  # wall time since the start, growing
    assert logs[-1].endswith(f"validation {history[-1][1]:.3f} nats/char after 40 steps, {history[-1][2]:.1f} s")
    assert type(model) is example.CharTransformer


def test_char_transformer_is_validated_on_the_char_lstm_examples_windows():
    import numpy as np
    import shakespeare_char_lstm as lstm
    import shakespeare_transformer as example
    ids = np.arange(5000) % 61
    x, y = example.validation_windows(ids, 128)
    rng = np.random.default_rng(1)  # as lstm.validation_loss draws them: 20 batches of 64
    expected = [lstm.random_windows(ids, 128, 64, rng) for _ in range(20)]
    np.testing.assert_array_equal(x, np.concatenate([bx for bx, _ in expected]))
    np.testing.assert_array_equal(y, np.concatenate([by for _, by in expected]))


def _torch_copy(module):
    """A PyTorch module with the same layers and weights as a sparktensor Sequential of Linear and Tanh layers."""
    import torch
    layers = [torch.nn.Tanh() if type(layer).__name__ == "Tanh" else
              torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64) for layer in module]
    copy = torch.nn.Sequential(*layers)
    copy.load_state_dict({k: torch.tensor(v.numpy()) for k, v in module.state_dict().items()})
    return copy


def _clouds(n=16, seed=3):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 2)) + 1.5, rng.normal(size=(n, 2)), rng.uniform(size=(n, 1))]


def test_gradient_penalty_gradients_match_pytorch():
    """The critic loss differentiates through a create_graph gradient; its parameter gradients equal PyTorch's."""
    import torch
    import gradient_penalty as example
    st.manual_seed(5)
    critic = example.make_critic(hidden=8, dtype=st.float64)
    real, fake, eps = _clouds()
    loss = example.critic_loss(critic, st.tensor(real), st.tensor(fake), st.tensor(eps))
    loss.backward()

    reference = _torch_copy(critic)
    t_real, t_fake, t_eps = (torch.tensor(a) for a in (real, fake, eps))
    between = (t_eps * t_real + (1 - t_eps) * t_fake).requires_grad_()
    grad, = torch.autograd.grad(reference(between).sum(), between, create_graph=True)
    expected = reference(t_fake).mean() - reference(t_real).mean() + 10.0 * ((grad.norm(dim=1) - 1) ** 2).mean()
    expected.backward()

    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    for (name, p), q in zip(critic.named_parameters(), reference.parameters()):
        got = p.grad.numpy() if p.grad is not None else 0 * q.detach().numpy()
        want = q.grad.numpy() if q.grad is not None else 0 * q.detach().numpy()  # the last bias has no gradient
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=name)


def test_gradient_penalty_gradient_matches_finite_differences():
    """Directional derivatives of the penalty along random parameter directions, autodiff against central
    differences in float64."""
    import gradient_penalty as example
    st.manual_seed(6)
    critic = example.make_critic(hidden=8, dtype=st.float64)
    real, fake, eps = (st.tensor(a) for a in _clouds(seed=4))
    params = list(critic.parameters())
    example.gradient_penalty(critic, real, fake, eps).backward()
    grads = [p.grad.numpy() if p.grad is not None else np.zeros(p.shape) for p in params]
    rng = np.random.default_rng(0)
    for _ in range(3):
        direction = [rng.normal(size=p.shape) for p in params]
        h = 1e-6
        values = []
        for sign in (1, -1):
            with st.no_grad():
                for p, d in zip(params, direction):
                    p += sign * h * st.tensor(d)
            values.append(example.gradient_penalty(critic, real, fake, eps).item())
            with st.no_grad():
                for p, d in zip(params, direction):
                    p -= sign * h * st.tensor(d)
        numeric = (values[0] - values[1]) / (2 * h)
        analytic = sum(float((g * d).sum()) for g, d in zip(grads, direction))
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_gradient_penalty_critic_separates_the_clouds():
    import gradient_penalty as example
    logs = []
    _, history = example.train(steps=200, log=logs.append)
    assert [step for step, _, _ in history] == [50, 100, 150, 200], logs
    distances = [distance for _, distance, _ in history]
    assert distances[-1] > distances[0] > 0, logs
    assert history[-1][2] < 0.1, logs  # the critic's input gradient norm stays near 1 between the clouds
    assert logs[-1].startswith("step  200  Wasserstein estimate")



def test_gaussian_process_fit_raises_the_likelihood_to_scikit_learns_optimum():
    """Adam on the log hyperparameters reaches the optimum scikit-learn's L-BFGS finds for the same kernel, and at
    scikit-learn's hyperparameters the likelihood and the posterior mean are scikit-learn's."""
    import gaussian_process as example
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    x, y = example.make_data()
    logs = []
    params, history = example.fit(x, y, steps=200, lr=0.05, log=logs.append)
    assert history[-1] > history[0] + 1.0, logs
    assert logs[-1].startswith("step  200  log likelihood")

    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(1.0, (1e-3, 1e3)) + WhiteKernel(0.1, (1e-6, 1e1))
    reference = GaussianProcessRegressor(kernel, alpha=0.0).fit(x.numpy().reshape(-1, 1), y.numpy())
    best = reference.log_marginal_likelihood_value_
    assert history[-1] == pytest.approx(best, abs=1e-3), logs
    variance, lengthscale, noise_variance = np.exp(reference.kernel_.theta)
    fitted = [math.exp(p.item()) for p in params]
    np.testing.assert_allclose(fitted, [lengthscale, variance, math.sqrt(noise_variance)], rtol=1e-2)

    theirs = [st.tensor(v, dtype=st.float64) for v in (math.log(lengthscale), math.log(variance),
                                                       0.5 * math.log(noise_variance))]
    assert example.log_marginal_likelihood(x, y, *theirs).item() == pytest.approx(best, rel=1e-8)
    x_new = np.linspace(-3.5, 3.5, 9)
    np.testing.assert_allclose(example.predict(x, y, st.tensor(x_new), *theirs).numpy(),
                               reference.predict(x_new.reshape(-1, 1)), rtol=1e-7, atol=1e-9)


def test_gaussian_process_likelihood_gradient_matches_finite_differences():
    import gaussian_process as example
    x, y = example.make_data(n=12)
    inputs = [st.tensor(v, dtype=st.float64, requires_grad=True) for v in (0.2, -0.1, -1.5)]
    assert st.autograd.gradcheck(lambda *p: example.log_marginal_likelihood(x, y, *p), inputs)


def _run_script(name):
    """Runs examples/<name> as a script, with the sparktensor this process imported; its output lines."""
    import os
    import subprocess
    script = pathlib.Path(__file__).resolve().parents[1] / "examples" / name
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(st.__file__).parents[1]))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_gaussian_process_script_runs_as_printed():
    lines = _run_script("gaussian_process.py")
    before, after = (float(v) for v in lines[-2].removeprefix("log marginal likelihood ").split(" -> "))
    assert after > before, lines
    assert lines[-3].startswith("fitted lengthscale"), lines


def test_gradient_penalty_script_runs_as_printed():
    lines = _run_script("gradient_penalty.py")
    assert [line.split()[1] for line in lines] == ["50", "100", "150", "200"], lines
