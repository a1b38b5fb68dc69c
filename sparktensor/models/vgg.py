"""``VGG``: blocks of 3x3 convolutions with batch norm and ReLU, each block ending in a 2x2 max pool.

The layout follows torchvision's VGG (``features`` then ``classifier``, indices as an ``nn.Sequential`` numbers
them), so a state dict moves between this model and a PyTorch model built the same way.
"""
from .. import nn

#: channels of each convolution, one tuple per block (each block halves the image)
SMALL_BLOCKS = ((32, 32), (64, 64), (128, 128))


class VGG(nn.Module):
    """A VGG-style CNN for small images: input (N, in_channels, H, W), output (N, classes) logits.

    Args:
        in_channels: channels of the input images (1 for Fashion-MNIST, 3 for CIFAR-10).
        classes: number of output classes.
        blocks: convolution widths, one tuple per block; each convolution is Conv2d 3x3 (padding 1),
            BatchNorm2d, ReLU, and each block ends with MaxPool2d(2).
        image_size: H = W of the input; fixes the input size of the first fully connected layer.
        hidden: width of the hidden fully connected layer.
        dropout: dropout probability before the last layer.

    Shape:
        input (N, in_channels, image_size, image_size); output (N, classes).
    """

    def __init__(self, in_channels=1, classes=10, blocks=SMALL_BLOCKS, image_size=28, hidden=256, dropout=0.3):
        super().__init__()
        side = image_size // 2 ** len(blocks)
        if side < 1:
            raise ValueError(f"VGG: {len(blocks)} blocks halve the image {len(blocks)} times, too often for "
                             f"{image_size}x{image_size} images; use fewer blocks or larger images")
        layers, channels = [], in_channels
        for widths in blocks:
            for width in widths:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.in_channels, self.image_size = in_channels, image_size
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(channels * side * side, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, classes),
        )

    def forward(self, images):
        expected = (self.in_channels, self.image_size, self.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"VGG expects images of shape (N, {', '.join(map(str, expected))}), got "
                             f"{tuple(images.shape)}; build it with in_channels= and image_size= of the data")
        return self.classifier(self.features(images).flatten(1))


def vgg_small(in_channels=1, classes=10, image_size=28):
    """The small VGG: blocks of 32, 64 and 128 channels (two convolutions each), a 256-unit hidden layer.

    About 0.6M parameters for 28x28 images (Fashion-MNIST), 0.8M for 32x32 (CIFAR-10).
    """
    return VGG(in_channels, classes, SMALL_BLOCKS, image_size)
