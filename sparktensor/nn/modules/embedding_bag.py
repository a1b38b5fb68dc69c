"""``EmbeddingBag``."""
from ... import creation
from .. import init
from ..functional.embedding_bag import embedding_bag
from ..parameter import Parameter
from .module import Module


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings, without building the embeddings of every index.

    Args:
        num_embeddings: number of rows.
        embedding_dim: size of each vector.
        mode: ``"sum"``, ``"mean"`` (default) or ``"max"`` over each bag.
        include_last_offset: the offsets end with the end of the last bag (CSR layout).
        padding_idx: a row left out of every bag (it gets no gradient and starts at zero).

    Shape:
        input: integers (B, N), each row a bag, or (M,) with ``offsets`` (B,) (B + 1 with
        ``include_last_offset``); ``per_sample_weights`` the shape of input (``"sum"`` only). Output (B, dim).
    """

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None, device=None,
                 dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise ValueError("EmbeddingBag: max_norm, scale_grad_by_freq and sparse gradients are not supported")
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"EmbeddingBag: padding_idx {padding_idx} is out of range for {num_embeddings} rows")
        self.num_embeddings, self.embedding_dim, self.mode = num_embeddings, embedding_dim, mode
        self.include_last_offset = include_last_offset
        self.padding_idx = padding_idx % num_embeddings if padding_idx is not None else None
        if _weight is not None:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"EmbeddingBag: _weight {tuple(_weight.shape)} must be "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(creation.tensor(_weight, dtype=dtype, device=device))
            return
        self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: N(0, 1), the padding row zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            from ...autograd.grad_mode import no_grad
            with no_grad():
                self.weight[self.padding_idx] = 0

    def forward(self, input, offsets=None, per_sample_weights=None):
        return embedding_bag(input, self.weight, offsets, mode=self.mode, per_sample_weights=per_sample_weights,
                             include_last_offset=self.include_last_offset, padding_idx=self.padding_idx)

    def extra_repr(self):
        extra = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}{extra}"
