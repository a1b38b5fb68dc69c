"""Functional forms of the layers: ``import sparktensor.nn.functional as F``."""
from .attention import scaled_dot_product_attention
from .activation_extra import hardswish, mish, prelu, silu
from .fold import fold, unfold
from .distance import cosine_similarity, pairwise_distance
from .norms import group_norm, instance_norm, normalize, rms_norm
from .upsampling import conv_transpose1d, conv_transpose2d, interpolate, pixel_shuffle, pixel_unshuffle
from .activation import elu, gelu, leaky_relu, relu, sigmoid, tanh
from .softmaxes import log_softmax, softmax, softmin
from .piecewise_activations import hardshrink, hardsigmoid, hardtanh, relu6, softshrink, threshold
from .smooth_activations import celu, glu, logsigmoid, selu, softplus, softsign, tanhshrink
from .dropout import dropout
from .dropout import dropout1d, dropout2d
from .embedding import embedding
from .embedding_bag import embedding_bag
from .linear import linear
from .loss import (binary_cross_entropy_with_logits, cross_entropy, huber_loss, l1_loss, mse_loss, nll_loss)
from .loss import binary_cross_entropy, kl_div, smooth_l1_loss
from .ctc import ctc_loss
from .margin_losses import (cosine_embedding_loss, hinge_embedding_loss, margin_ranking_loss, multi_margin_loss,
                            multilabel_soft_margin_loss, soft_margin_loss, triplet_margin_loss)
from .likelihood_losses import gaussian_nll_loss, poisson_nll_loss
from .normalization import batch_norm, layer_norm
from .padding import pad
from ...ops.selection import one_hot
from .conv import conv1d, conv2d
from .conv3d import conv3d
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .pooling1d import adaptive_avg_pool1d, avg_pool1d, max_pool1d
from .pooling3d import adaptive_avg_pool3d, avg_pool3d, max_pool3d
