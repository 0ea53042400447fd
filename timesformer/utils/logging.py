"""Rank-aware logging: a human log (console + OUTPUT_DIR/log.txt) and JSON lines (stats.jsonl).

Only rank 0 writes files; other ranks print warnings and errors only, prefixed with their rank.
"""
import json
import logging
import os
import sys
from typing import Any, Callable, Dict, Optional

from .distributed import get_rank
from .files import atomic_open
from .strict_json import dumps, non_finite

_FORMAT = "[%(asctime)s %(levelname)s %(name)s] %(message)s"
_HANDLER_TAG = "_timesformer_handler"
# ``logger.info(..., extra=FILE_ONLY)``: a line for log.txt that the console leaves out (progress
# lines while a progress bar shows the same on the terminal)
FILE_ONLY = {"file_only": True}


def setup_logging(output_dir: Optional[str] = None, rank: Optional[int] = None) -> logging.Logger:
    """Configure the ``timesformer`` logger for this process; safe to call more than once."""
    rank = get_rank() if rank is None else rank
    logger = logging.getLogger("timesformer")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in [h for h in logger.handlers if getattr(h, _HANDLER_TAG, False)]:
        logger.removeHandler(h)
        h.close()
    fmt = _FORMAT if rank == 0 else f"[rank {rank}] {_FORMAT}"
    console = logging.StreamHandler(sys.stdout)
    console.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    console.setFormatter(logging.Formatter(fmt, datefmt="%m/%d %H:%M:%S"))
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    handlers = [console]
    if output_dir and rank == 0:
        os.makedirs(output_dir, exist_ok=True)
        f = logging.FileHandler(os.path.join(output_dir, "log.txt"))
        f.setFormatter(logging.Formatter(_FORMAT, datefmt="%m/%d %H:%M:%S"))
        handlers.append(f)
    for h in handlers:
        setattr(h, _HANDLER_TAG, True)
        logger.addHandler(h)
    return logger


class JsonLinesWriter:
    """Appends one JSON object per line to ``path`` on rank 0 (a no-op elsewhere).

    Lines are strict JSON (``utils.strict_json``): a number that is not finite (a loss that diverged,
    a mean over nothing) is written as ``null``, and the record gets ``"non_finite": {key: "nan" |
    "inf" | "-inf"}`` naming it, so that readers can tell a missing value from a blown-up one.
    """

    def __init__(self, path: str):
        self.path = path
        self.enabled = get_rank() == 0
        if self.enabled:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self, record: Dict[str, Any]) -> None:
        """Append ``record`` (flushed at once, so a killed run keeps everything written)."""
        if not self.enabled:
            return
        bad = non_finite(record)
        with open(self.path, "a") as f:
            f.write(dumps({**record, "non_finite": bad} if bad else record) + "\n")


def read_json_lines(path: str) -> list:
    """All records of a JSON lines file."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def filter_json_lines(path: str, keep: Callable[[Dict[str, Any]], bool]) -> int:
    """Rewrite ``path`` (atomically) with only the records ``keep`` accepts; returns how many were
    dropped. A line that does not parse (a process killed while appending it) is dropped with a
    warning. A missing file is left missing."""
    if not os.path.exists(path):
        return 0
    kept, dropped = [], 0
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logging.getLogger(__name__).warning("%s line %d is not a JSON record (a write cut short by "
                                                    "a kill?); dropped", path, number)
                dropped += 1
                continue
            if keep(record):
                kept.append(line if line.endswith("\n") else line + "\n")
            else:
                dropped += 1
    if dropped:
        with atomic_open(path) as f:
            f.writelines(kept)
    return dropped
