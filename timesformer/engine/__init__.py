"""Training and testing: the config checks of every package and the preflight, the plan of a run
(``plan``, the tools' ``--dry-run``), the one decision of where a run's weights come from
(``resume``), the trainer and its hooks, multi-view evaluation, process launching."""
from timesformer.errors import USER_ERRORS, JobFailed, error_line

from .checks import check_config
from .launch import launch
from .plan import Plan, dry_run, plan
from .resume import Start, decide_start, settle_channel_order
from .runner import launch_run, preflight, run

__all__ = ["USER_ERRORS", "JobFailed", "Plan", "Start", "check_config", "decide_start", "dry_run", "error_line",
           "launch", "launch_run", "plan", "preflight", "run", "settle_channel_order"]
