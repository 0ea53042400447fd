"""Models: the space-time attention schemes, the video ViT, and building one from a config."""
from .attention import SCHEMES, Attention, Block, Scheme, get_scheme
from .build import build_model, check_model_config, model_kwargs_from_cfg
from .presets import PRESETS
from .vit import TimeSformer, VisionTransformer


def from_pretrained(path_or_hub_id: str, **overrides) -> TimeSformer:
    """The TimeSformer a checkpoint (file, Hugging Face folder or hub id) describes, with its weights."""
    from timesformer.checkpoint import from_pretrained as _from_pretrained  # loading is a separate layer

    return _from_pretrained(path_or_hub_id, **overrides)


__all__ = ["SCHEMES", "PRESETS", "Attention", "Block", "Scheme", "TimeSformer", "VisionTransformer",
           "build_model", "check_model_config", "from_pretrained", "get_scheme", "model_kwargs_from_cfg"]
