"""Training and testing: the trainer and its hooks, multi-view evaluation, process launching."""
from . import checks  # noqa: F401  registers the engine's config checks with load_config
from .launch import launch
from .runner import preflight, run

__all__ = ["launch", "preflight", "run"]
