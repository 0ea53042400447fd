"""Training and testing: the trainer and its hooks, multi-view evaluation, process launching."""
from timesformer.errors import USER_ERRORS, JobFailed, error_line

from .launch import launch
from .runner import preflight, run, settle_channel_order

__all__ = ["USER_ERRORS", "JobFailed", "error_line", "launch", "preflight", "run", "settle_channel_order"]
