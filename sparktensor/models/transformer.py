"""A character-level Transformer language model."""
from .. import nn
from ..creation import arange


class CharTransformer(nn.Module):
    """Token and learned position embeddings, causal pre-norm Transformer encoder layers, a final norm and a
    linear read-out; logits (N, vocab, L), the layout ``cross_entropy`` takes (as ``CharLSTM``'s).

    Args:
        vocab_size: number of characters.
        d_model: width of the embeddings and of every layer.
        nhead: attention heads per layer.
        layers: number of encoder layers.
        dim_feedforward: hidden width of each feed-forward block (default 4 * d_model).
        max_len: longest sequence the position embeddings cover.
        dropout: dropout inside the layers and after the embeddings.

    Shape:
        ids (N, L) integers with L <= max_len; output (N, vocab_size, L). Position i sees positions 0..i only.
    """

    def __init__(self, vocab_size, d_model=128, nhead=4, layers=4, dim_feedforward=None, max_len=256, dropout=0.1):
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward or 4 * d_model, dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, ids):
        length = ids.shape[-1]
        if length > self.max_len:
            raise ValueError(f"CharTransformer: a sequence of {length} characters is longer than max_len "
                             f"{self.max_len}; build the model with a larger max_len")
        x = self.embed(ids) + self.position(arange(length, device=ids.device))
        x = self.encoder(self.dropout(x), is_causal=True)
        return self.head(self.norm(x)).transpose(0, 2, 1)
