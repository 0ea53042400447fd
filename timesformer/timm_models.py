"""The paper's models registered with timm: ``timm.create_model('timesformer_base_patch16_224',
pretrained=False, num_classes=174)`` returns our :class:`~timesformer.models.TimeSformer`. ``hubconf.py``
exposes the same functions to ``torch.hub.load``.

| name | scheme | frames x crop | weights (tags, the default first) |
|---|---|---|---|
| ``timesformer_base_patch16_224`` | divided | 8 x 224 | k400, k600, ssv2 |
| ``timesformer_hr_base_patch16_448`` | divided | 16 x 448 | k400, k600, ssv2 |
| ``timesformer_l_base_patch16_224`` | divided | 96 x 224 (ssv2: 64) | k400, k600, ssv2 |
| ``timesformer_space_only_base_patch16_224`` | space_only | 8 x 224 | none released |
| ``timesformer_joint_base_patch16_224`` | joint_space_time | 8 x 224 | none released |
| ``timesformer_local_global_base_patch16_224`` | sparse_local_global | 8 x 224 | none released |
| ``timesformer_axial_base_patch16_224`` | axial | 8 x 224 | none released |

All are ViT-B/16 with a 400-class (Kinetics-400) head unless a tag says otherwise
(``.k600`` 600, ``.ssv2`` 174). A tag (``name.ssv2``, or ``pretrained_cfg='ssv2'``) sets the classes
and frames of those weights; ``pretrained=True`` loads them from their Hugging Face port through
``from_pretrained`` (the weights then decide the shape; keyword arguments still override it, e.g.
``num_classes=10`` for a new head). ``pretrained_cfg_overlay=dict(file=PATH)`` loads a local copy
instead (a file or a Hugging Face folder): nothing is fetched.

``import timesformer`` imports this module the moment timm is imported (see ``timesformer/__init__.py``),
which may happen while a part of the package is half-imported (``checkpoint.convert`` and the trainer
import timm): so it imports only names and data (``checkpoint.zoo``); the model code
(``timesformer.models.zoo``) is imported when a model is first built.
"""
from typing import Any, Dict

from timm.models import generate_default_cfgs, register_model
from torch import nn

from timesformer.checkpoint.zoo import ARCHITECTURES, NUM_CLASSES, RELEASED, RELEASED_LICENSE, tags_of, timm_data_cfg


def _pretrained_cfgs() -> Dict[str, Dict[str, Any]]:
    """timm's pretrained configs: one per released ``name.tag`` (with its hub id), one per name without."""
    cfgs: Dict[str, Dict[str, Any]] = {}
    for name, arch in ARCHITECTURES.items():
        for tag in tags_of(name):
            r = RELEASED[f"{name}.{tag}"]
            cfgs[f"{name}.{tag}"] = dict(timm_data_cfg(r.img_size, r.num_classes), hf_hub_id=r.hub_id,
                                         license=RELEASED_LICENSE, notes=(f"{r.num_frames} frames, {r.dataset}",))
        if not tags_of(name):
            cfgs[name] = dict(timm_data_cfg(arch["img_size"], NUM_CLASSES), notes=(f"{arch['num_frames']} frames",))
    return cfgs


default_cfgs = generate_default_cfgs(_pretrained_cfgs())  # timm's register_model reads this module attribute


def _create(name: str, pretrained: bool, kwargs: Dict[str, Any]) -> nn.Module:
    """``timesformer.models.zoo.create_timesformer``, imported at the first model built (see the module doc)."""
    from timesformer.models.zoo import create_timesformer

    return create_timesformer(name, pretrained, **kwargs)


@register_model
def timesformer_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """TimeSformer (divided space-time), ViT-B/16, 8 frames at 224; weights k400 / k600 / ssv2."""
    return _create("timesformer_base_patch16_224", pretrained, kwargs)


@register_model
def timesformer_hr_base_patch16_448(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """TimeSformer-HR (divided space-time), ViT-B/16, 16 frames at 448; weights k400 / k600 / ssv2."""
    return _create("timesformer_hr_base_patch16_448", pretrained, kwargs)


@register_model
def timesformer_l_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """TimeSformer-L (divided space-time), ViT-B/16, 96 frames at 224 (ssv2: 64); weights k400 / k600 / ssv2."""
    return _create("timesformer_l_base_patch16_224", pretrained, kwargs)


@register_model
def timesformer_space_only_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Space-only attention (frames averaged at the end), ViT-B/16, 8 frames at 224; no released weights."""
    return _create("timesformer_space_only_base_patch16_224", pretrained, kwargs)


@register_model
def timesformer_joint_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Joint space-time attention, ViT-B/16, 8 frames at 224; no released weights."""
    return _create("timesformer_joint_base_patch16_224", pretrained, kwargs)


@register_model
def timesformer_local_global_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Sparse local-global attention, ViT-B/16, 8 frames at 224; no released weights."""
    return _create("timesformer_local_global_base_patch16_224", pretrained, kwargs)


@register_model
def timesformer_axial_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Axial attention (time, width, height), ViT-B/16, 8 frames at 224; no released weights."""
    return _create("timesformer_axial_base_patch16_224", pretrained, kwargs)
