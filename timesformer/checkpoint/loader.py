"""``load_pretrained(model, source)`` for every weights format, and ``from_pretrained(source)``."""
import logging
import os
from typing import Any, Union

import torch
from torch import nn

from timesformer.errors import ConfigError
from timesformer.models.vit import TimeSformer, VisionTransformer

from .convert import LoadReport, adapt_state_dict
from .formats import Weights, read_file, read_hf_folder
from .hub import WEIGHT_SUFFIXES, download_hf, is_timm_name, looks_like_hub_id, looks_like_path, read_timm

logger = logging.getLogger(__name__)

Source = Union[str, "os.PathLike[str]", Weights]


def source_error(key: str, source: str, e: Exception) -> ConfigError:
    """``e``, a failure to use ``source``, as a ConfigError naming config key ``key`` (the path said once)."""
    msg = str(e)
    rest = msg[len(source):] if msg.startswith(source) else f": {msg}"
    return ConfigError(f"{key} = {source!r}{rest}")


def read_source(source: Source) -> Weights:
    """Weights from a local file or folder, a timm model name or a Hugging Face hub id."""
    if isinstance(source, Weights):
        return source
    source = os.path.expanduser(os.fspath(source))
    if os.path.isdir(source):
        return read_hf_folder(source)
    if os.path.isfile(source):
        return read_file(source)
    if looks_like_path(source):
        where = "" if os.path.isabs(source) else f" (relative to {os.getcwd()})"
        raise FileNotFoundError(f"pretrained weights {source}{where}: no such file; expected a weights file "
                                f"({', '.join(WEIGHT_SUFFIXES)}) or a Hugging Face model folder. Check the "
                                "path; MODEL_ZOO.md says where to get the released checkpoints")
    if is_timm_name(source):
        return read_timm(source)
    if looks_like_hub_id(source):
        return read_hf_folder(download_hf(source))
    raise FileNotFoundError(f"pretrained weights {source!r}: no such file or folder, and not a timm model "
                            "name (e.g. vit_base_patch16_224.orig_in21k_ft_in1k) or a Hugging Face hub id "
                            "(e.g. facebook/timesformer-base-finetuned-k400)")


def _backbone(model: nn.Module) -> VisionTransformer:
    module = model
    for attr in ("module", "_orig_mod", "module", "model"):  # DDP, torch.compile, our wrapper
        module = getattr(module, attr, module)
    if not isinstance(module, VisionTransformer):
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
    vit = _backbone(model)
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


def from_pretrained(source: Source, **overrides: Any) -> TimeSformer:
    """The TimeSformer a checkpoint describes (scheme, sizes, frames, classes), with its weights.

    ``overrides`` change the model (e.g. ``num_frames=16``, ``num_classes=174``,
    ``attention_type='divided_space_time'`` for an image ViT); the weights are then adapted as by
    :func:`load_pretrained`. The model's ``class_names`` attribute holds the labels when the
    checkpoint names them (else None).
    """
    weights = read_source(source)
    kwargs = weights.model_kwargs()
    kwargs.update(overrides)
    model = TimeSformer(**kwargs)
    load_pretrained(model, weights)
    model.class_names = weights.class_names
    return model
