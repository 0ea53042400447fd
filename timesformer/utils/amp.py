"""Mixed precision: the one map from a precision name (TRAIN.MIXED_PRECISION, predict's --precision,
benchmark's --amp) to the dtype torch.autocast runs in, and that autocast."""
from typing import Dict, Optional, Union

import torch

PRECISIONS: Dict[str, Optional[torch.dtype]] = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str) -> Optional[torch.dtype]:
    """The autocast dtype of ``precision`` (None: full precision), or a ValueError listing the names."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {list(PRECISIONS)}")
    return PRECISIONS[precision]


def autocast(device: Union[torch.device, str], precision: str) -> torch.autocast:
    """The autocast context of ``precision`` on ``device``'s type ("none" disables it)."""
    dtype = autocast_dtype(precision)
    return torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None)
