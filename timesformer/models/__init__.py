"""Models: the space-time attention schemes, the video ViT, and building one from a config."""
from .attention import SCHEMES, Attention, Block, Scheme, get_scheme
from .build import build_model, model_kwargs_from_cfg
from .presets import PRESETS
from .vit import TimeSformer, VisionTransformer

__all__ = ["SCHEMES", "PRESETS", "Attention", "Block", "Scheme", "TimeSformer", "VisionTransformer",
           "build_model", "get_scheme", "model_kwargs_from_cfg"]
