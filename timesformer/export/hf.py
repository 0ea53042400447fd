"""A Hugging Face folder checked against the model it came from.

``export_weights`` writes weights in any layout (``checkpoint.write_weights``); for a Hugging Face
folder it then runs the folder and timesformer's model built from the source on one random clip and
records the largest logit difference in the model card: the folder run by transformers'
``TimesformerForVideoClassification`` when transformers is installed, else read back by
timesformer (which then checks the renaming only). A difference above ``TOLERANCE`` (transformers'
``space_only`` differs from the paper's, see SPEC.md) is a warning and is stated in the card.
"""
import logging
from typing import Optional, Tuple

import torch
from torch import Tensor

from timesformer.checkpoint import Weights, write_weights
from timesformer.checkpoint.formats import write_model_card
from timesformer.checkpoint.hf_files import Parity
from timesformer.models import from_pretrained

logger = logging.getLogger(__name__)

TOLERANCE = 1e-3  # float32 on the CPU agrees to ~1e-5


def _folder_logits(folder: str, x: Tensor) -> Tuple[Tensor, str]:
    """Logits of the Hugging Face folder on clip ``x`` (B, C, T, H, W), and what computed them."""
    try:
        import transformers
        from transformers import TimesformerForVideoClassification
        from transformers.utils import logging as hf_logging
    except ImportError:
        model = from_pretrained(folder).eval()
        return model(x), "timesformer reading the folder back (transformers is not installed)"
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the tool's output
    try:
        hf = TimesformerForVideoClassification.from_pretrained(folder).eval()
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return hf(pixel_values=x.transpose(1, 2)).logits, f"transformers {transformers.__version__}"


@torch.no_grad()
def check_parity(w: Weights, folder: str, seed: int = 0) -> Parity:
    """The largest logit difference between the folder and our model from ``w`` on one clip N(0, 1)."""
    model = from_pretrained(w).eval()
    vit = model.model
    size = vit.patch_grid[0] * vit.patch_size
    x = torch.randn(1, vit.in_chans, vit.num_frames, size, size, generator=torch.Generator().manual_seed(seed))
    theirs, against = _folder_logits(folder, x)
    return Parity(float((model(x) - theirs).abs().max()), against, tuple(x.shape), TOLERANCE)


def export_weights(w: Weights, out: str, fmt: str, source: Optional[str] = None) -> Optional[Parity]:
    """Write ``w`` as ``fmt`` to ``out``; for 'hf', check the folder's logits and state the result in
    its model card (None for the other layouts, which only rename tensors)."""
    write_weights(w, out, fmt, source)
    if fmt != "hf":
        return None
    parity = check_parity(w, out)
    write_model_card(w, out, source, parity)
    if not parity.agrees:
        logger.warning("%s: the logits of %s differ from timesformer's by %.2e (over %g): run this model with "
                       "timesformer; the model card says so", out, parity.against, parity.max_abs_diff, TOLERANCE)
    return parity
