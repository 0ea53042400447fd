"""The paper's models registered with timm: ``timm.create_model('timesformer_base_patch16_224',
pretrained=False, num_classes=174)`` returns our :class:`TimeSformer`. ``hubconf.py`` exposes the same
functions to ``torch.hub.load``.

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

Registering costs nothing at ``import timesformer``: the package registers these the moment timm
is imported (see ``timesformer/__init__.py``), since importing timm itself takes seconds.
"""
from typing import Any, Dict, Optional

from timm.models import generate_default_cfgs, register_model

from timesformer.checkpoint.zoo import RELEASED, RELEASED_LICENSE, tags_of
from timesformer.config.defaults import get_cfg
from timesformer.errors import FetchError

from .build import from_pretrained
from .vit import TimeSformer

# name -> the TimeSformer keyword arguments that make it (ViT-B/16 preset, 400 classes).
ARCHITECTURES: Dict[str, Dict[str, Any]] = {
    "timesformer_base_patch16_224": dict(attention_type="divided_space_time", num_frames=8, img_size=224),
    "timesformer_hr_base_patch16_448": dict(attention_type="divided_space_time", num_frames=16, img_size=448),
    "timesformer_l_base_patch16_224": dict(attention_type="divided_space_time", num_frames=96, img_size=224),
    "timesformer_space_only_base_patch16_224": dict(attention_type="space_only", num_frames=8, img_size=224),
    "timesformer_joint_base_patch16_224": dict(attention_type="joint_space_time", num_frames=8, img_size=224),
    "timesformer_local_global_base_patch16_224": dict(attention_type="sparse_local_global", num_frames=8,
                                                      img_size=224),
    "timesformer_axial_base_patch16_224": dict(attention_type="axial", num_frames=8, img_size=224),
}
NUM_CLASSES = 400


def _data_cfg(img_size: int, num_classes: int) -> Dict[str, Any]:
    """timm's data config of a model (``timm.data.resolve_data_config`` reads it): the test crop, the
    library's normalisation (DATA.MEAN / DATA.STD), a 256/224 resize before the centre crop."""
    data = get_cfg().DATA
    return dict(input_size=(3, img_size, img_size), mean=tuple(data.MEAN), std=tuple(data.STD),
                interpolation="bilinear", crop_pct=224 / 256, num_classes=num_classes)


def _pretrained_cfgs() -> Dict[str, Dict[str, Any]]:
    """timm's pretrained configs: one per released ``name.tag`` (with its hub id), one per name without."""
    cfgs: Dict[str, Dict[str, Any]] = {}
    for name, arch in ARCHITECTURES.items():
        for tag in tags_of(name):
            r = RELEASED[f"{name}.{tag}"]
            cfgs[f"{name}.{tag}"] = dict(_data_cfg(r.img_size, r.num_classes), hf_hub_id=r.hub_id,
                                         license=RELEASED_LICENSE, notes=(f"{r.num_frames} frames, {r.dataset}",))
        if not tags_of(name):
            cfgs[name] = dict(_data_cfg(arch["img_size"], NUM_CLASSES), notes=(f"{arch['num_frames']} frames",))
    return cfgs


default_cfgs = generate_default_cfgs(_pretrained_cfgs())  # timm's register_model reads this module attribute


def _tag(pretrained_cfg: Any) -> str:
    """The weight tag timm passes on (``name.tag`` or ``pretrained_cfg=``): a string, a dict or a PretrainedCfg."""
    if pretrained_cfg is None or isinstance(pretrained_cfg, str):
        return pretrained_cfg or ""
    tag = pretrained_cfg.get("tag") if isinstance(pretrained_cfg, dict) else getattr(pretrained_cfg, "tag", None)
    return tag or ""


def create_timesformer(name: str, pretrained: bool = False, pretrained_cfg: Any = None,
                       pretrained_cfg_overlay: Optional[Dict[str, Any]] = None, cache_dir: Optional[str] = None,
                       **overrides: Any) -> TimeSformer:
    """The model registered as ``name`` (see the module doc): ``pretrained`` loads the tag's released
    weights (the default tag without one); ``overrides`` are TimeSformer keyword arguments."""
    tag, tags = _tag(pretrained_cfg), tags_of(name)
    if tag and tag not in tags:
        raise ValueError(f"{name}.{tag}: no such weights; {name} has "
                         + (f"the tags {', '.join(tags)}" if tags else "no released weights"))
    if cache_dir is not None:
        raise ValueError(f"{name}: cache_dir is not supported; set HF_HUB_CACHE to choose where the "
                         "Hugging Face hub keeps downloads")
    file = (pretrained_cfg_overlay or {}).get("file")
    if not pretrained:
        kwargs = dict(ARCHITECTURES[name], num_classes=NUM_CLASSES)
        if tag:
            r = RELEASED[f"{name}.{tag}"]
            kwargs.update(num_classes=r.num_classes, num_frames=r.num_frames)
        model = TimeSformer(**{**kwargs, **overrides})
    elif not tags and not file:
        raise ValueError(f"{name}: the authors released no weights for the {ARCHITECTURES[name]['attention_type']} "
                         "scheme; use pretrained=False, or pretrained_cfg_overlay=dict(file=PATH) for your own")
    else:
        model = _load_released(name, tag or tags[0], file, overrides)
    vit = model.model
    model.pretrained_cfg = dict(_data_cfg(vit.patch_grid[0] * vit.patch_size, vit.num_classes), architecture=name,
                                tag=tag or None, num_frames=vit.num_frames)
    return model


def _load_released(name: str, tag: str, file: Optional[str], overrides: Dict[str, Any]) -> TimeSformer:
    """``from_pretrained`` on ``file`` or the hub port of ``name.tag``; a fetch failure says how to work offline."""
    hub_id = RELEASED[f"{name}.{tag}"].hub_id
    try:
        return from_pretrained(file or hub_id, **overrides)
    except FetchError as e:
        if file:
            raise
        raise FetchError(f"{name}.{tag}: could not fetch its weights, Hugging Face hub id {hub_id} "
                         f"({e.__cause__ or e}). Download them once where there is network "
                         f"(hf download {hub_id}; with HF_HUB_OFFLINE=1 the cache is then used), "
                         "or pass a local copy (a .pyth file or a Hugging Face folder): "
                         f"pretrained_cfg_overlay=dict(file=PATH)") from e


@register_model
def timesformer_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> TimeSformer:
    """TimeSformer (divided space-time), ViT-B/16, 8 frames at 224; weights k400 / k600 / ssv2."""
    return create_timesformer("timesformer_base_patch16_224", pretrained, **kwargs)


@register_model
def timesformer_hr_base_patch16_448(pretrained: bool = False, **kwargs: Any) -> TimeSformer:
    """TimeSformer-HR (divided space-time), ViT-B/16, 16 frames at 448; weights k400 / k600 / ssv2."""
    return create_timesformer("timesformer_hr_base_patch16_448", pretrained, **kwargs)


@register_model
def timesformer_l_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> TimeSformer:
    """TimeSformer-L (divided space-time), ViT-B/16, 96 frames at 224 (ssv2: 64); weights k400 / k600 / ssv2."""
    return create_timesformer("timesformer_l_base_patch16_224", pretrained, **kwargs)


@register_model
def timesformer_space_only_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> TimeSformer:
    """Space-only attention (frames averaged at the end), ViT-B/16, 8 frames at 224; no released weights."""
    return create_timesformer("timesformer_space_only_base_patch16_224", pretrained, **kwargs)


@register_model
def timesformer_joint_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> TimeSformer:
    """Joint space-time attention, ViT-B/16, 8 frames at 224; no released weights."""
    return create_timesformer("timesformer_joint_base_patch16_224", pretrained, **kwargs)


@register_model
def timesformer_local_global_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> TimeSformer:
    """Sparse local-global attention, ViT-B/16, 8 frames at 224; no released weights."""
    return create_timesformer("timesformer_local_global_base_patch16_224", pretrained, **kwargs)


@register_model
def timesformer_axial_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> TimeSformer:
    """Axial attention (time, width, height), ViT-B/16, 8 frames at 224; no released weights."""
    return create_timesformer("timesformer_axial_base_patch16_224", pretrained, **kwargs)
