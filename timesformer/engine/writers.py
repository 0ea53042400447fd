"""Where a run's records go: stats.jsonl, TensorBoard and Weights & Biases (:class:`StatsWriter`,
:class:`WandbRun`), and the report of the bad files every rank found (``gather_bad_files``,
``describe_bad_files``). The hooks and the test write through these; they hold no training logic."""
import json
import logging
import os
import secrets
import string
from typing import Any, Dict, List, Optional, Tuple

import yaml

from timesformer.config import ConfigError, require
from timesformer.utils import distributed as du
from timesformer.utils.files import write_text
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
WANDB_RUN_FILE = "wandb_run.json"  # in OUTPUT_DIR: the W&B run id a resumed run continues
_WANDB_FIX = 'pip install "timesformer[wandb]" (or pip install wandb), or set LOG.WANDB False'


def scalars(record: Dict) -> Dict[str, float]:
    """``<type>/<key>`` -> value of every number in a stats record except its ``iter`` (the step)."""
    return {f"{record['type']}/{k}": v for k, v in record.items()
            if k not in ("type", "iter") and isinstance(v, (int, float))}


def import_wandb() -> Any:
    """The wandb module; when it cannot be imported, a ConfigError naming the extra to install."""
    try:
        import wandb
    except ImportError as e:
        raise ConfigError(f"LOG.WANDB = True, but wandb cannot be imported ({e}): {_WANDB_FIX}") from e
    return wandb


def check_log_config(cfg) -> None:
    """LOG.WANDB needs the wandb package (imported here, so that a broken install stops the run before
    any work), a project and tags W&B accepts (1 to 64 characters)."""
    if not cfg.LOG.WANDB:
        return
    import_wandb()
    require(bool(cfg.LOG.WANDB_PROJECT), "LOG.WANDB_PROJECT", cfg.LOG.WANDB_PROJECT, "a W&B project name")
    tags = cfg.LOG.WANDB_TAGS
    require(all(isinstance(t, str) and 0 < len(t) <= 64 for t in tags), "LOG.WANDB_TAGS", tags,
            "a list of names of 1 to 64 characters, e.g. \"['k400', 'divided']\"")


class WandbRun:
    """The run in Weights & Biases (LOG.WANDB; rank 0 only, see :meth:`open`): the config, then every
    stats record's numbers as ``<type>/<key>`` against ``iter`` (W&B's x-axis for them), so the final
    ``test_final/*`` values are also the run's summary. Its files go to OUTPUT_DIR/wandb.

    The id is kept in OUTPUT_DIR/wandb_run.json: a run resumed in the same OUTPUT_DIR (or a test of
    its weights there) continues the same W&B run (``resume="allow"``), its config updated. W&B cannot
    take back values, so records a killed run wrote after its last checkpoint stay and the resumed run
    logs those iterations again (with an exact resume, the same values); stats.jsonl and TensorBoard
    keep one value per iteration.
    """

    def __init__(self, cfg):
        wandb, log = import_wandb(), cfg.LOG
        try:
            self.run = wandb.init(project=log.WANDB_PROJECT, entity=log.WANDB_ENTITY or None,
                                  name=log.WANDB_NAME or None, tags=list(log.WANDB_TAGS) or None,
                                  id=_run_id(cfg.OUTPUT_DIR), resume="allow", dir=cfg.OUTPUT_DIR,
                                  config=yaml.safe_load(cfg.dump()))
        except wandb.Error as e:  # not logged in, no network, a project or entity it refuses
            raise ConfigError(f"LOG.WANDB = True, but W&B could not start the run: {e}. Log in (wandb login, "
                              f"or WANDB_API_KEY), or run with WANDB_MODE=offline and upload later with "
                              f"wandb sync {os.path.join(cfg.OUTPUT_DIR, 'wandb')}; or set LOG.WANDB False") from e
        self.run.define_metric("iter")
        self.run.define_metric("*", step_metric="iter")

    @classmethod
    def open(cls, cfg) -> Optional["WandbRun"]:
        """The W&B run of this process: on rank 0 when LOG.WANDB, else None."""
        return cls(cfg) if cfg.LOG.WANDB and du.is_main_process() else None

    def write(self, record: Dict[str, Any]) -> None:
        """Log one stats record's numbers at its ``iter``."""
        self.run.log({**scalars(record), "iter": int(record.get("iter", 0))})

    def close(self, exit_code: int = 0) -> None:
        """Finish the run (``exit_code`` 1: marked failed in W&B)."""
        self.run.finish(exit_code=exit_code)


def _run_id(output_dir: str) -> str:
    """The W&B run id of ``output_dir``: the one wandb_run.json keeps, else a new one written there."""
    path = os.path.join(output_dir, WANDB_RUN_FILE)
    if os.path.exists(path):
        try:
            with open(path) as f:
                return str(json.load(f)["id"])
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{path}: not a W&B run id file as this library writes ({{\"id\": ...}}; {e!r}); "
                              "delete it to start a new W&B run in this OUTPUT_DIR") from e
    run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))  # as W&B's ids
    write_text(path, json.dumps({"id": run_id}))
    return run_id


class StatsWriter:
    """stats.jsonl plus TensorBoard scalars (``<type>/<key>`` at step ``iter``) and, when given, the
    W&B run; rank 0 only.

    Opening it supersedes the records of ``kinds`` at iterations ``purge_step`` and later, in both
    sinks: they are dropped from stats.jsonl and hidden from TensorBoard's readers (SummaryWriter's
    ``purge_step``), so a run resumed from a checkpoint at iteration N (``purge_step`` N + 1) leaves
    one value per iteration. Training and test records go to separate TensorBoard runs
    (``tensorboard`` and ``tensorboard/test``) because a purge there covers every tag of a run.
    """

    def __init__(self, output_dir: str, purge_step: Optional[int] = None,
                 kinds: Tuple[str, ...] = TRAIN_RECORDS, tensorboard: Optional[str] = "tensorboard",
                 wandb: Optional[WandbRun] = None):
        self.jsonl = JsonLinesWriter(os.path.join(output_dir, "stats.jsonl"))
        self.tb = None
        self.wandb = wandb  # also written to, not closed: its owner (engine.runner) finishes it
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
        """Write one record to every sink."""
        self.jsonl.write(record)
        if self.tb is not None:
            step = int(record.get("iter", 0))
            for tag, v in scalars(record).items():
                self.tb.add_scalar(tag, v, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.write(record)

    def close(self) -> None:
        """Close TensorBoard's writer."""
        if self.tb is not None:
            self.tb.close()
            self.tb = None
