"""Training and testing: the trainer and its hooks, multi-view evaluation, process launching."""
from timesformer.errors import USER_ERRORS, JobFailed, error_line

from .checks import check_config
from .launch import launch
from .runner import preflight, run, settle_channel_order

__all__ = ["USER_ERRORS", "JobFailed", "check_config", "error_line", "launch", "preflight", "run", "settle_channel_order"]
