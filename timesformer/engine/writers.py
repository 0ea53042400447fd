"""Where a run's records go: stats.jsonl and TensorBoard (:class:`StatsWriter`), and the report of
the bad files every rank found (``gather_bad_files``, ``describe_bad_files``). The hooks and the
test write through these; they hold no training logic."""
import logging
import os
from typing import Dict, List, Optional, Tuple

from timesformer.utils import distributed as du
from timesformer.utils.logging import JsonLinesWriter, filter_json_lines, read_json_lines

logger = logging.getLogger(__name__)


def gather_bad_files(dataset) -> List:
    """Every rank's bad-file log entries (``BadFile``: path, kind, reason), each (path, kind) once."""
    merged: Dict[Tuple[str, str], object] = {}
    for part in du.all_gather_object(dataset.bad_file_log()):
        for bad in part:
            merged.setdefault((bad.path, bad.kind), bad)
    return list(merged.values())


def describe_bad_files(bad: List, limit: int = 20) -> str:
    """'path (kind: reason); ...' of the first ``limit`` entries, and how many more there are."""
    text = "; ".join(f"{b.path} ({b.kind}: {b.reason})" for b in bad[:limit])
    return text + (f"; and {len(bad) - limit} more" if len(bad) > limit else "")


TRAIN_RECORDS = ("train_iter", "train_epoch", "val_epoch")
TEST_RECORDS = ("test_final",)


class StatsWriter:
    """stats.jsonl plus TensorBoard scalars (``<type>/<key>`` at step ``iter``); rank 0 only.

    Opening it supersedes the records of ``kinds`` at iterations ``purge_step`` and later, in both
    sinks: they are dropped from stats.jsonl and hidden from TensorBoard's readers (SummaryWriter's
    ``purge_step``), so a run resumed from a checkpoint at iteration N (``purge_step`` N + 1) leaves
    one value per iteration. Training and test records go to separate TensorBoard runs
    (``tensorboard`` and ``tensorboard/test``) because a purge there covers every tag of a run.
    """

    def __init__(self, output_dir: str, purge_step: Optional[int] = None,
                 kinds: Tuple[str, ...] = TRAIN_RECORDS, tensorboard: Optional[str] = "tensorboard"):
        self.jsonl = JsonLinesWriter(os.path.join(output_dir, "stats.jsonl"))
        self.tb = None
        if not du.is_main_process():
            return
        if purge_step is not None:
            dropped = filter_json_lines(self.jsonl.path, lambda r: not (
                r.get("type") in kinds and int(r.get("iter", 0)) >= purge_step))
            if dropped:
                logger.info("%s: %d records from iteration %d on superseded (the run resumes before "
                            "them)", self.jsonl.path, dropped, purge_step)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(os.path.join(output_dir, tensorboard), purge_step=purge_step)

    def has_record(self, kind: str, iteration: int) -> bool:
        """Whether stats.jsonl holds a ``kind`` record at ``iteration`` (rank 0; False elsewhere)."""
        if not self.jsonl.enabled or not os.path.exists(self.jsonl.path):
            return False
        return any(r.get("type") == kind and r.get("iter") == iteration
                   for r in read_json_lines(self.jsonl.path))

    def write(self, record: Dict) -> None:
        """Write one record to both sinks."""
        self.jsonl.write(record)
        if self.tb is not None:
            step = int(record.get("iter", 0))
            for k, v in record.items():
                if k not in ("type", "iter") and isinstance(v, (int, float)) and v is not None:
                    self.tb.add_scalar(f"{record['type']}/{k}", v, step)
            self.tb.flush()

    def close(self) -> None:
        """Close TensorBoard's writer."""
        if self.tb is not None:
            self.tb.close()
            self.tb = None
