"""Training and testing: the trainer and its hooks, multi-view evaluation, process launching."""
from .launch import launch
from .runner import preflight, run

__all__ = ["launch", "preflight", "run"]
