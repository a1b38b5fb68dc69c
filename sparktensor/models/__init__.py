"""Ready-made networks used by the CLI and the examples."""
from .lenet import LeNet5
from .mlp import MLP
from .recurrent import CharLSTM, LSTMClassifier
from .transformer import CharTransformer
from .vgg import VGG, vgg_small

__all__ = ["MLP", "LeNet5", "VGG", "CharLSTM", "CharTransformer", "LSTMClassifier", "vgg_small"]
