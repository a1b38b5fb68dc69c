"""Neural-network layers with PyTorch's names, shapes and state-dict layouts."""
from . import functional, init, utils
from .parameter import Parameter
from .modules.module import Module
from .modules.container import ModuleDict, ModuleList, Sequential
from .modules.parameter_containers import ParameterDict, ParameterList
from .modules.linear import Identity, Linear
from .modules.activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softmin, Tanh
from .modules.piecewise_activations import Hardshrink, Hardsigmoid, Hardtanh, ReLU6, Softshrink, Threshold
from .modules.smooth_activations import CELU, GLU, SELU, LogSigmoid, Softplus, Softsign, Tanhshrink
from .modules.dropout import Dropout
from .modules.dropout import Dropout1d, Dropout2d
from .modules.flatten import Flatten
from .modules.embedding import Embedding
from .modules.embedding_bag import EmbeddingBag
from .modules.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, LayerNorm
from .modules.conv import Conv1d, Conv2d, Conv3d
from .modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .modules.pooling1d import AdaptiveAvgPool1d, AvgPool1d, MaxPool1d
from .modules.pooling3d import AdaptiveAvgPool3d, AvgPool3d, MaxPool3d
from .modules.attention import MultiheadAttention
from .modules.activation_extra import Hardswish, Mish, PReLU, SiLU
from .modules.distance import CosineSimilarity, PairwiseDistance
from .modules.norms import GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, RMSNorm
from .modules.padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d,
                              ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
                              ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .modules.unflatten import Unflatten
from .modules.fold import Fold, Unfold
from .modules.bilinear import Bilinear
from .modules.upsampling import ConvTranspose1d, ConvTranspose2d, PixelShuffle, PixelUnshuffle, Upsample
from .modules.transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                                  TransformerEncoderLayer)
from .modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .modules.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss,
                           NLLLoss, SmoothL1Loss)
from .modules.loss_extra import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, MarginRankingLoss,
                                  MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss,
                                  TripletMarginLoss)
from .modules.ctc import CTCLoss
