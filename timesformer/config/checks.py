"""Validation of a merged configuration: every problem names the key, the value and what is allowed."""
from typing import Callable, List

from fvcore.common.config import CfgNode


class ConfigError(ValueError):
    """A configuration value that cannot work; the message says which key and how to fix it."""


_CHECKS: List[Callable[[CfgNode], None]] = []


def register_check(fn: Callable[[CfgNode], None]) -> Callable[[CfgNode], None]:
    """Add ``fn(cfg)`` to the checks run by ``check_config``; it raises ConfigError on a bad value."""
    _CHECKS.append(fn)
    return fn


def check_config(cfg: CfgNode) -> None:
    """Run every registered check on a merged config."""
    for fn in _CHECKS:
        fn(cfg)


def require(ok: bool, key: str, value, allowed: str) -> None:
    """Raise ConfigError for ``key`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"config key {key} = {value!r} is invalid: expected {allowed}.")


@register_check
def _check_model(cfg: CfgNode) -> None:
    # Imported here so that importing the config never pulls in the model code.
    from timesformer.models.attention import SCHEMES
    from timesformer.models.build import model_kwargs_from_cfg
    from timesformer.models.presets import PRESETS

    require(cfg.MODEL.ARCH in PRESETS, "MODEL.ARCH", cfg.MODEL.ARCH, f"one of {sorted(PRESETS)}")
    require(cfg.TIMESFORMER.ATTENTION_TYPE in SCHEMES, "TIMESFORMER.ATTENTION_TYPE",
            cfg.TIMESFORMER.ATTENTION_TYPE, f"one of {list(SCHEMES)}")
    require(cfg.MODEL.NUM_CLASSES > 0, "MODEL.NUM_CLASSES", cfg.MODEL.NUM_CLASSES, "a positive integer")
    require(cfg.DATA.NUM_FRAMES > 0, "DATA.NUM_FRAMES", cfg.DATA.NUM_FRAMES, "a positive integer")
    for key in ("DROP_PATH_RATE", "DROPOUT_RATE", "ATTN_DROPOUT_RATE", "HEAD_DROPOUT_RATE"):
        value = cfg.MODEL[key]
        require(0.0 <= value < 1.0, f"MODEL.{key}", value, "a rate in [0, 1)")
    kw = model_kwargs_from_cfg(cfg)
    require(kw["embed_dim"] % kw["num_heads"] == 0, "MODEL.EMBED_DIM", kw["embed_dim"],
            f"a multiple of MODEL.NUM_HEADS = {kw['num_heads']}")
    scheme = SCHEMES[cfg.TIMESFORMER.ATTENTION_TYPE]
    for key in ("TRAIN_CROP_SIZE", "TEST_CROP_SIZE"):
        size = cfg.DATA[key]
        require(size > 0 and size % kw["patch_size"] == 0, f"DATA.{key}", size,
                f"a positive multiple of the patch size {kw['patch_size']} (e.g. "
                f"{max(1, round(size / kw['patch_size'])) * kw['patch_size']})")
        try:
            scheme.check_grid(cfg.DATA.NUM_FRAMES, size // kw["patch_size"], size // kw["patch_size"])
        except ValueError as e:
            raise ConfigError(f"DATA.NUM_FRAMES = {cfg.DATA.NUM_FRAMES} with DATA.{key} = {size}: {e}") from e


@register_check
def _check_checkpoint(cfg: CfgNode) -> None:
    from timesformer.checkpoint.checks import check_checkpoint_config  # the TRAIN checkpoint keys

    check_checkpoint_config(cfg)


@register_check
def _check_data(cfg: CfgNode) -> None:
    # Imported here so that importing the config never pulls in the data code.
    from timesformer.data.build import check_data_config

    check_data_config(cfg)


@register_check
def _check_engine(cfg: CfgNode) -> None:
    from timesformer.engine.checks import check_engine_config  # run, TRAIN, TEST and SOLVER keys

    check_engine_config(cfg)
