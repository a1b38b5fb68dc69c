"""``LeNet5``: two 5x5 convolutions with max pooling and three fully connected layers, for 28x28 images."""
from .. import nn


class LeNet5(nn.Sequential):
    """LeNet-5 with ReLU; input (N, channels, 28, 28), output (N, classes) logits."""

    def __init__(self, channels=1, classes=10):
        super().__init__(
            nn.Conv2d(channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, classes),
        )
