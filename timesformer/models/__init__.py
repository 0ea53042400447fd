"""Models: the space-time attention schemes, the video ViT, building one from a config or a checkpoint,
and loading weights into one (``load_pretrained``; reading and converting files is ``timesformer.checkpoint``)."""
from timesformer.config.defaults import ARCHS as PRESETS

from .attention import SCHEMES, Attention, Block, Scheme, get_scheme
from .build import build_model, check_model_config, from_pretrained, model_kwargs_from_cfg
from .pretrained import backbone, load_pretrained
from .vit import TimeSformer, VisionTransformer

__all__ = ["SCHEMES", "PRESETS", "Attention", "Block", "Scheme", "TimeSformer", "VisionTransformer", "backbone",
           "build_model", "check_model_config", "from_pretrained", "get_scheme", "load_pretrained",
           "model_kwargs_from_cfg"]
