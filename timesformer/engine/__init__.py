"""Training and testing: the trainer and its hooks, multi-view evaluation, process launching."""
from .launch import USER_ERRORS, JobFailed, error_line, launch
from .runner import preflight, run

__all__ = ["USER_ERRORS", "JobFailed", "error_line", "launch", "preflight", "run"]
