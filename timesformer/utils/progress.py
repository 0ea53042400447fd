"""Progress: a tqdm bar on a terminal and log lines every ``log_period`` (to log.txt only while a
bar is shown, to the console too otherwise), with the ETA of the whole run."""
import logging
import sys
import time
from typing import Any, Dict, Optional

from .distributed import get_rank
from .logging import FILE_ONLY

logger = logging.getLogger(__name__)


def _fmt_seconds(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Reports ``update(n, stats)`` calls; rank 0 only. Use as a context manager or call close().

    ``later``: steps that follow this bar's ``total`` in the same run (the later epochs), counted in
    the ETA so that it says when the run ends, not the bar."""

    def __init__(self, total: int, desc: str, log_period: int = 10, start: int = 0,
                 tty: Optional[bool] = None, later: int = 0):
        self.total, self.desc, self.log_period, self.later = total, desc, max(1, log_period), later
        self.n, self.start_n, self.t0 = start, start, time.perf_counter()
        self.enabled = get_rank() == 0
        tty = sys.stderr.isatty() if tty is None else tty
        self.bar = None
        if self.enabled and tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=desc, dynamic_ncols=True, leave=False)

    def eta(self) -> float:
        """Seconds left to the end of the run (this bar's steps and ``later``) at the mean speed
        since the start."""
        done = self.n - self.start_n
        if done <= 0:
            return float("nan")
        return (time.perf_counter() - self.t0) / done * (self.total - self.n + self.later)

    def update(self, n: int = 1, stats: Optional[Dict[str, Any]] = None) -> None:
        """Advance by ``n``; ``stats`` (name -> number) are shown on the bar or in the log line."""
        self.n += n
        if not self.enabled:
            return
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in (stats or {}).items())
        eta = _fmt_seconds(self.eta()) if self.n > self.start_n else "?"
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix_str(f"{text} run eta {eta}" if self.later else text, refresh=False)
        if self.n % self.log_period == 0 or self.n == self.total:
            logger.info("%s %d/%d %s eta %s", self.desc, self.n, self.total, text, eta,
                        extra=FILE_ONLY if self.bar is not None else None)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
