"""``MLP``: fully connected layers with ReLU between them."""
from .. import nn


class MLP(nn.Sequential):
    """Flatten, then Linear-ReLU blocks and a final Linear: ``MLP(784, [256, 128], 10)``."""

    def __init__(self, in_features, hidden=(256, 128), out_features=10):
        sizes = [in_features, *hidden]
        layers = [nn.Flatten()]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], out_features))
        super().__init__(*layers)
