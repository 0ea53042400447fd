"""Build a model from a config."""
from typing import Any, Dict

from torch import nn

from .presets import PRESETS
from .vit import TimeSformer


def model_kwargs_from_cfg(cfg) -> Dict[str, Any]:
    """TimeSformer keyword arguments from the MODEL, TIMESFORMER and DATA config keys."""
    m = cfg.MODEL
    preset = PRESETS.get(m.ARCH, PRESETS["vit_base_patch16"])
    return dict(
        arch=m.ARCH,
        img_size=cfg.DATA.TRAIN_CROP_SIZE,
        num_frames=cfg.DATA.NUM_FRAMES,
        num_classes=m.NUM_CLASSES,
        attention_type=cfg.TIMESFORMER.ATTENTION_TYPE,
        patch_size=m.PATCH_SIZE or preset["patch_size"],
        embed_dim=m.EMBED_DIM or preset["embed_dim"],
        depth=m.DEPTH or preset["depth"],
        num_heads=m.NUM_HEADS or preset["num_heads"],
        mlp_ratio=m.MLP_RATIO or preset["mlp_ratio"],
        drop_path_rate=m.DROP_PATH_RATE,
        drop_rate=m.DROPOUT_RATE,
        attn_drop_rate=m.ATTN_DROPOUT_RATE,
        head_drop_rate=m.HEAD_DROPOUT_RATE,
    )


def build_model(cfg) -> nn.Module:
    """The TimeSformer a config describes, randomly initialised, or loaded from
    ``TIMESFORMER.PRETRAINED_MODEL`` when that is set. Kept on the CPU; the caller places it."""
    return TimeSformer(pretrained_model=cfg.TIMESFORMER.PRETRAINED_MODEL, **model_kwargs_from_cfg(cfg))
