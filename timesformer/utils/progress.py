"""Progress: a tqdm bar with ETA on a terminal, plain log lines every ``log_period`` otherwise."""
import logging
import sys
import time
from typing import Any, Dict, Optional

from .distributed import get_rank

logger = logging.getLogger(__name__)


def _fmt_seconds(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Reports ``update(n, stats)`` calls; rank 0 only. Use as a context manager or call close()."""

    def __init__(self, total: int, desc: str, log_period: int = 10, start: int = 0,
                 tty: Optional[bool] = None):
        self.total, self.desc, self.log_period = total, desc, max(1, log_period)
        self.n, self.start_n, self.t0 = start, start, time.perf_counter()
        self.enabled = get_rank() == 0
        tty = sys.stderr.isatty() if tty is None else tty
        self.bar = None
        if self.enabled and tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=desc, dynamic_ncols=True, leave=False)

    def eta(self) -> float:
        """Seconds left at the mean speed since the start."""
        done = self.n - self.start_n
        if done <= 0:
            return float("nan")
        return (time.perf_counter() - self.t0) / done * (self.total - self.n)

    def update(self, n: int = 1, stats: Optional[Dict[str, Any]] = None) -> None:
        """Advance by ``n``; ``stats`` (name -> number) are shown on the bar or in the log line."""
        self.n += n
        if not self.enabled:
            return
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in (stats or {}).items())
        if self.bar is not None:
            self.bar.update(n)
            if text:
                self.bar.set_postfix_str(text, refresh=False)
        elif self.n % self.log_period == 0 or self.n == self.total:
            logger.info("%s %d/%d %s eta %s", self.desc, self.n, self.total, text,
                        _fmt_seconds(self.eta()) if self.n > self.start_n else "?")

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
