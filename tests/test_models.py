"""The model zoo: output shapes, training, and the VGG CNN against a PyTorch model built the same way."""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.nn.functional as F
from sparktensor import models
from sparktensor.autograd import gradcheck

torch = pytest.importorskip("torch")

TINY_BLOCKS = ((4,), (6, 6))  # a VGG small enough for float64 gradient checks


def torch_vgg(in_channels, classes, blocks, image_size, hidden, dropout=0.0):
    """torchvision's VGG layout (``features``, ``classifier``) with the same blocks, in PyTorch."""
    t = torch.nn

    class TorchVGG(t.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [], in_channels
            for widths in blocks:
                for width in widths:
                    layers += [t.Conv2d(channels, width, 3, padding=1), t.BatchNorm2d(width), t.ReLU()]
                    channels = width
                layers.append(t.MaxPool2d(2))
            self.features = t.Sequential(*layers)
            side = image_size // 2 ** len(blocks)
            self.classifier = t.Sequential(t.Linear(channels * side * side, hidden), t.ReLU(), t.Dropout(dropout),
                                           t.Linear(hidden, classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), 1))

    return TorchVGG()


def _with_running_stats(model, channels, size, rng):
    """Give a PyTorch model non-trivial batch-norm statistics by running it on a few training batches."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.tensor(rng.standard_normal((8, channels, size, size)) * 2 + 0.5, dtype=torch.float32))
    return model.eval()


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_vgg_small_shapes_for_28_and_32_pixel_images(channels, size):
    model = models.vgg_small(channels, classes=10, image_size=size).eval()
    assert model(st.randn(3, channels, size, size)).shape == (3, 10)
    assert model.features(st.randn(3, channels, size, size)).shape == (3, 128, size // 8, size // 8)


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_vgg_state_dict_keys_and_shapes_match_pytorch(channels, size):
    ours = models.vgg_small(channels, 10, size).state_dict()
    theirs = torch_vgg(channels, 10, models.vgg.SMALL_BLOCKS, size, 256).state_dict()
    assert list(ours) == list(theirs)
    assert [tuple(v.shape) for v in ours.values()] == [tuple(v.shape) for v in theirs.values()]


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_vgg_weights_load_both_ways_with_the_same_outputs(channels, size):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    theirs = _with_running_stats(torch_vgg(channels, 10, models.vgg.SMALL_BLOCKS, size, 256), channels, size, rng)
    images = rng.standard_normal((4, channels, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.tensor(images)).numpy()

    ours = models.vgg_small(channels, 10, size).eval()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(ours(st.tensor(images)).numpy(), expected, rtol=1e-5, atol=1e-5)

    st.manual_seed(1)
    ours = models.vgg_small(channels, 10, size).train()
    for _ in range(2):  # batch-norm statistics of our own
        ours(st.tensor(rng.standard_normal((8, channels, size, size)).astype(np.float32)))
    ours.eval()
    theirs_again = torch_vgg(channels, 10, models.vgg.SMALL_BLOCKS, size, 256)
    theirs_again.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    with torch.no_grad():
        expected = theirs_again.eval()(torch.tensor(images)).numpy()
    np.testing.assert_allclose(ours(st.tensor(images)).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_vgg_training_mode_forward_and_gradients_match_pytorch():
    rng = np.random.default_rng(2)
    torch.manual_seed(2)
    theirs = torch_vgg(2, 5, TINY_BLOCKS, 12, 16).double().train()
    ours = models.VGG(2, 5, TINY_BLOCKS, image_size=12, hidden=16, dropout=0.0).double().train()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    images = rng.standard_normal((6, 2, 12, 12))
    labels = rng.integers(0, 5, 6)
    expected_loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(images)), torch.tensor(labels))
    expected_loss.backward()
    loss = F.cross_entropy(ours(st.tensor(images)), st.tensor(labels))
    loss.backward()
    np.testing.assert_allclose(loss.item(), expected_loss.item(), rtol=1e-10)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), dict(theirs.named_parameters())[name].grad.numpy(),
                                   rtol=1e-8, atol=1e-10, err_msg=name)
    for name, buffer in ours.named_buffers():  # running statistics updated the same way
        np.testing.assert_allclose(buffer.numpy(), dict(theirs.named_buffers())[name].numpy(), rtol=1e-10,
                                   err_msg=name)


def test_vgg_input_gradient_matches_finite_differences():
    st.manual_seed(3)
    model = models.VGG(1, 3, TINY_BLOCKS, image_size=8, hidden=8, dropout=0.0).double().eval()
    images = st.randn(2, 1, 8, 8, dtype=st.float64, requires_grad=True)
    assert gradcheck(model, (images,))


def test_vgg_small_trains_on_a_batch():
    st.manual_seed(0)
    rng = np.random.default_rng(0)
    model = models.vgg_small(1, 10, 28)
    images = st.tensor(rng.standard_normal((16, 1, 28, 28)).astype(np.float32))
    labels = st.tensor(rng.integers(0, 10, 16))
    optimizer = st.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_vgg_names_a_wrong_input_shape_and_too_many_blocks():
    model = models.vgg_small(1, 10, 28)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\), got \(2, 3, 32, 32\)"):
        model(st.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="too often for 4x4 images"):
        models.vgg_small(1, 10, image_size=4)


@pytest.mark.parametrize("build, batch, classes", [
    (lambda: models.MLP(64, (32,), 10), st.randn(5, 8, 8), 10),
    (lambda: models.LeNet5(1, 10), st.randn(5, 1, 28, 28), 10),
    (lambda: models.VGG(3, 4, TINY_BLOCKS, image_size=32, hidden=8), st.randn(5, 3, 32, 32), 4),
    (lambda: models.LSTMClassifier(3, 9, hidden=8), st.randn(5, 7, 3), 9),
], ids=["mlp", "lenet", "vgg", "lstm-classifier"])
def test_zoo_models_give_class_scores_and_gradients_for_every_parameter(build, batch, classes):
    model = build()
    out = model(batch)
    assert out.shape == (5, classes)
    F.cross_entropy(out, st.tensor(np.arange(5) % classes)).backward()
    assert all(p.grad is not None and np.isfinite(p.grad.numpy()).all() for p in model.parameters())


def test_char_lstm_gives_logits_in_cross_entropy_layout():
    model = models.CharLSTM(vocab_size=11, embed=4, hidden=8, layers=1)
    ids = st.tensor(np.random.default_rng(0).integers(0, 11, (3, 6)))
    assert model(ids).shape == (3, 11, 6)


def test_cli_builds_the_vgg_for_square_images_only():
    from sparktensor import cli
    images = np.zeros((2, 1, 28, 28), dtype=np.float32)
    model = cli.build_model("vgg", "fashion-mnist", {"classes": 10}, images)
    assert isinstance(model, models.VGG) and model.eval()(st.tensor(images)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"--model vgg needs square images .* digits has samples of shape \(64,\)"):
        cli.build_model("vgg", "digits", {"classes": 10}, np.zeros((2, 64), dtype=np.float32))
