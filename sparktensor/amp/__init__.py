"""Mixed precision as ``torch.amp``: ``autocast`` (float16 or bfloat16 products, float32 losses) and ``GradScaler``."""
from .autocast_mode import autocast, bfloat16, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "bfloat16", "get_autocast_dtype", "is_autocast_enabled"]
