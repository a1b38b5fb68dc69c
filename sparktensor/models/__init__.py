"""Ready-made networks used by the CLI and the examples."""
from .lenet import LeNet5
from .mlp import MLP
from .recurrent import CharLSTM, LSTMClassifier

__all__ = ["MLP", "LeNet5", "CharLSTM", "LSTMClassifier"]
