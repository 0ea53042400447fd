"""Build a model: from a config (after checking the keys the model reads), or from a checkpoint."""
from typing import Any, Dict

from torch import nn

from timesformer.checkpoint import read_source
from timesformer.checkpoint.sources import Source
from timesformer.config import report, require
from timesformer.config.defaults import ARCHS as PRESETS
from timesformer.config.defaults import arch_sizes

from .attention import SCHEMES
from .pretrained import load_pretrained
from .vit import TimeSformer


def model_kwargs_from_cfg(cfg) -> Dict[str, Any]:
    """TimeSformer keyword arguments from the MODEL, TIMESFORMER and DATA config keys."""
    m = cfg.MODEL
    return dict(
        arch=m.ARCH,
        img_size=cfg.DATA.TRAIN_CROP_SIZE,
        num_frames=cfg.DATA.NUM_FRAMES,
        num_classes=m.NUM_CLASSES,
        attention_type=cfg.TIMESFORMER.ATTENTION_TYPE,
        **arch_sizes(cfg),
        drop_path_rate=m.DROP_PATH_RATE,
        drop_rate=m.DROPOUT_RATE,
        attn_drop_rate=m.ATTN_DROPOUT_RATE,
        head_drop_rate=m.HEAD_DROPOUT_RATE,
    )


def check_model_config(cfg) -> None:
    """Raise ConfigError for a MODEL, TIMESFORMER or model-shaping DATA key that cannot work."""
    known = require(cfg.MODEL.ARCH in PRESETS, "MODEL.ARCH", cfg.MODEL.ARCH, f"one of {sorted(PRESETS)}")
    known &= require(cfg.TIMESFORMER.ATTENTION_TYPE in SCHEMES, "TIMESFORMER.ATTENTION_TYPE",
                     cfg.TIMESFORMER.ATTENTION_TYPE, f"one of {list(SCHEMES)}")
    require(cfg.MODEL.NUM_CLASSES > 0, "MODEL.NUM_CLASSES", cfg.MODEL.NUM_CLASSES, "a positive integer")
    frames = require(cfg.DATA.NUM_FRAMES > 0, "DATA.NUM_FRAMES", cfg.DATA.NUM_FRAMES, "a positive integer")
    for key in ("DROP_PATH_RATE", "DROPOUT_RATE", "ATTN_DROPOUT_RATE", "HEAD_DROPOUT_RATE"):
        value = cfg.MODEL[key]
        require(0.0 <= value < 1.0, f"MODEL.{key}", value, "a rate in [0, 1)")
    if not known:  # the sizes and the grid's rules come with the names
        return
    kw = model_kwargs_from_cfg(cfg)
    require(kw["embed_dim"] % kw["num_heads"] == 0, "MODEL.EMBED_DIM", kw["embed_dim"],
            f"a multiple of MODEL.NUM_HEADS = {kw['num_heads']}")
    scheme = SCHEMES[cfg.TIMESFORMER.ATTENTION_TYPE]
    for key in ("TRAIN_CROP_SIZE", "TEST_CROP_SIZE"):
        size = cfg.DATA[key]
        if not (require(size > 0 and size % kw["patch_size"] == 0, f"DATA.{key}", size,
                        f"a positive multiple of the patch size {kw['patch_size']} (e.g. "
                        f"{max(1, round(size / kw['patch_size'])) * kw['patch_size']})") and frames):
            continue
        try:
            scheme.check_grid(cfg.DATA.NUM_FRAMES, size // kw["patch_size"], size // kw["patch_size"])
        except ValueError as e:
            report(f"DATA.NUM_FRAMES = {cfg.DATA.NUM_FRAMES} with DATA.{key} = {size}: {e}")


def build_model(cfg) -> nn.Module:
    """The TimeSformer a config describes (its model keys checked first), randomly initialised, or
    loaded from ``TIMESFORMER.PRETRAINED_MODEL`` when that is set. Kept on the CPU; the caller places it."""
    check_model_config(cfg)
    return TimeSformer(pretrained_model=cfg.TIMESFORMER.PRETRAINED_MODEL, **model_kwargs_from_cfg(cfg))


def from_pretrained(source: Source, **overrides: Any) -> TimeSformer:
    """The TimeSformer a checkpoint (file, Hugging Face folder or hub id) describes (scheme, sizes,
    frames, classes), with its weights.

    ``overrides`` change the model (e.g. ``num_frames=16``, ``num_classes=174``,
    ``attention_type='divided_space_time'`` for an image ViT); the weights are then adapted as by
    :func:`load_pretrained`. The model's ``class_names`` attribute holds the labels when the
    checkpoint names them (else None).
    """
    weights = read_source(source)
    if "num_heads" in overrides:  # stated by the caller: what the file lacks, or a correction
        weights.meta["num_heads"] = overrides["num_heads"]
    kwargs = weights.model_kwargs()
    kwargs.update(overrides)
    model = TimeSformer(**kwargs)
    load_pretrained(model, weights)
    model.class_names = weights.class_names
    return model
