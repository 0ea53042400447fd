"""The paper's models by name (``timesformer.checkpoint.zoo``), built: :func:`create_timesformer` behind
timm's ``create_model`` and ``torch.hub.load`` (the names are registered by ``timesformer.timm_models``).
"""
from typing import Any, Dict, Optional

from timesformer.checkpoint.zoo import ARCHITECTURES, NUM_CLASSES, RELEASED, tags_of, timm_data_cfg
from timesformer.errors import FetchError

from .build import from_pretrained
from .vit import TimeSformer


def _tag(pretrained_cfg: Any) -> str:
    """The weight tag timm passes on (``name.tag`` or ``pretrained_cfg=``): a string, a dict or a PretrainedCfg."""
    if pretrained_cfg is None or isinstance(pretrained_cfg, str):
        return pretrained_cfg or ""
    tag = pretrained_cfg.get("tag") if isinstance(pretrained_cfg, dict) else getattr(pretrained_cfg, "tag", None)
    return tag or ""


def create_timesformer(name: str, pretrained: bool = False, pretrained_cfg: Any = None,
                       pretrained_cfg_overlay: Optional[Dict[str, Any]] = None, cache_dir: Optional[str] = None,
                       **overrides: Any) -> TimeSformer:
    """The model registered as ``name`` (see ``timesformer.timm_models``): ``pretrained`` loads the tag's released
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
        model = from_pretrained(file, **overrides) if file else _load_released(name, tag or tags[0], overrides)
    vit = model.model
    model.pretrained_cfg = dict(timm_data_cfg(vit.patch_grid[0] * vit.patch_size, vit.num_classes), architecture=name,
                                tag=tag or None, num_frames=vit.num_frames)
    return model


def _load_released(name: str, tag: str, overrides: Dict[str, Any]) -> TimeSformer:
    """``from_pretrained`` on the hub port of ``name.tag``; a fetch failure says how to work offline."""
    hub_id = RELEASED[f"{name}.{tag}"].hub_id
    try:
        return from_pretrained(hub_id, **overrides)
    except FetchError as e:
        raise FetchError(f"{name}.{tag}: could not fetch its weights, Hugging Face hub id {hub_id} "
                         f"({e.__cause__ or e}). Download them once where there is network "
                         f"(hf download {hub_id}; with HF_HUB_OFFLINE=1 the cache is then used), "
                         "or pass a local copy (a .pyth file or a Hugging Face folder): "
                         f"pretrained_cfg_overlay=dict(file=PATH)") from e
