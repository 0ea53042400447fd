"""Loading weights into a model: read a source (any format, ``timesformer.checkpoint``), adapt it to
the model (``checkpoint.convert``), load, report. The checkpoint layer reads and converts; this
module is the only one that puts weights into a model (``TimeSformer(pretrained_model=...)``,
``from_pretrained`` and the engine's resume all come here)."""
import logging

import torch
from torch import nn

from timesformer.checkpoint import LoadReport, adapt_state_dict, read_source
from timesformer.checkpoint.sources import Source
from timesformer.utils.modules import unwrap_model

logger = logging.getLogger(__name__)


def backbone(model: nn.Module) -> nn.Module:
    """The VisionTransformer of ``model``: unwrapped from DDP / torch.compile, and from TimeSformer
    (which holds it as ``model``). A TypeError for anything else."""
    module = unwrap_model(model)
    module = getattr(module, "model", module)
    if not hasattr(module, "patch_grid") or not hasattr(module, "scheme"):
        raise TypeError(f"load_pretrained expects a TimeSformer or VisionTransformer, got {type(model).__name__}")
    return module


def load_pretrained(model: nn.Module, source: Source, strict: bool = False) -> LoadReport:
    """Load weights of any supported format into ``model`` (a TimeSformer or its VisionTransformer).

    Image ViTs seed the new attention steps from their own ``attn``/``norm1`` (``*_fc`` and
    ``time_embed`` zero); embeddings are resampled to the model's grid and frames; a head with
    another class count is dropped. ``strict`` (for evaluation) makes any weight not taken from the
    source an error. Returns (and logs) the report; impossible loads raise.
    """
    weights = read_source(source)
    vit = backbone(model)
    report = LoadReport(source=weights.source, layout=weights.layout, channel_order=weights.channel_order or "",
                        channel_order_note=weights.channel_order_note)
    target = vit.state_dict()
    new = adapt_state_dict(weights.state_dict, target, vit.patch_grid, report)
    if strict and (report.missing or report.initialised_from):
        lacking = {**report.missing, **{k: f"initialised from {v}" for k, v in report.initialised_from.items()}}
        raise ValueError(f"{weights.source} does not provide every weight of this model (strict load): "
                         + "; ".join(f"{k}: {why}" for k, why in list(lacking.items())[:8])
                         + ". Check MODEL.NUM_CLASSES and TIMESFORMER.ATTENTION_TYPE against the checkpoint")
    with torch.no_grad():
        vit.load_state_dict({k: v.to(dtype=target[k].dtype) for k, v in new.items()}, strict=True)
    logger.info(report.summary())
    return report
