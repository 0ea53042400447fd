"""Training hooks: learning rate, checkpoints, validation and logging live here, not in the loop.

A hook sees the trainer's state (``epoch``, ``epoch_iter``, ``iter``, ``step``, ``last``) and reacts
before/after training, each epoch and each iteration (one loader batch). A hook whose state must
survive a kill returns it from ``state_dict``: every checkpoint holds every rank's.

Statistics are keyed by the global iteration (``iter``: iterations done when the record was made),
so a resumed run can supersede what the killed one wrote after its checkpoint.
"""
import logging
import os
import time
from typing import Dict, List, Optional, Set, Tuple

import torch

from timesformer.solver import get_lr_at_epoch, set_lr
from timesformer.utils import distributed as du
from timesformer.utils.logging import JsonLinesWriter, filter_json_lines, read_json_lines
from timesformer.utils.meters import MeterGroup, gpu_memory_mb
from timesformer.utils.progress import Progress

logger = logging.getLogger(__name__)


class HookBase:
    """Base class: override any of the six callbacks. ``self.trainer`` is set on registration."""

    trainer = None

    def before_train(self) -> None:
        """Called once before the first epoch."""

    def after_train(self) -> None:
        """Called once after the last epoch."""

    def before_epoch(self) -> None:
        """Called at the start of every epoch."""

    def after_epoch(self) -> None:
        """Called at the end of every epoch."""

    def before_step(self) -> None:
        """Called before every iteration."""

    def after_step(self) -> None:
        """Called after every iteration."""

    def state_dict(self) -> Optional[Dict]:
        """What this hook needs to continue after a resume, as plain numbers, lists and dicts (a
        checkpoint holds every rank's); None: nothing."""
        return None

    def load_state_dict(self, per_rank: List[Dict]) -> None:
        """Continue from the states the ranks' hooks saved (``per_rank[r]``: rank r's)."""


class LRScheduler(HookBase):
    """Sets the policy's rate before every iteration (fractional epoch, with warm-up); with gradient
    accumulation the rate of a step is the one at its first iteration, as with the large batch."""

    def before_step(self) -> None:
        t = self.trainer
        lr = get_lr_at_epoch(t.cfg, t.epoch + t.group_start() / t.iters_per_epoch)
        set_lr(t.optimizer, lr)


class PeriodicCheckpointer(HookBase):
    """Saves every ``CHECKPOINT_PERIOD`` epochs, at the end, and every ``CHECKPOINT_PERIOD_ITERS``
    optimizer steps of an epoch (counted from the epoch's start, so resumed runs save at the same
    points; only where gradients were just applied)."""

    def after_step(self) -> None:
        t = self.trainer
        period = t.cfg.TRAIN.CHECKPOINT_PERIOD_ITERS
        done = t.epoch_iter + 1  # iterations of this epoch done
        if period and t.stepped and done % (period * t.accum) == 0 and done < t.iters_per_epoch:
            t.save_checkpoint(epoch=t.epoch, epoch_iteration=t.epoch_iter + 1)

    def after_epoch(self) -> None:
        t = self.trainer
        period = t.cfg.TRAIN.CHECKPOINT_PERIOD
        last = t.epoch + 1 == t.max_epoch
        if last or (period and (t.epoch + 1) % period == 0):
            t.save_checkpoint(epoch=t.epoch + 1, epoch_iteration=0)


class EvalHook(HookBase):
    """Validates every ``TRAIN.EVAL_PERIOD`` epochs and after the last one; writes ``val_epoch``.

    A run resumed from an end-of-epoch checkpoint whose validation stats.jsonl lacks (killed after
    the checkpoint, before ``val_epoch`` was written; or continued in a new OUTPUT_DIR) validates
    that epoch before training on."""

    def _due(self, epochs_done: int) -> bool:
        period = self.trainer.cfg.TRAIN.EVAL_PERIOD
        return bool(period) and epochs_done > 0 and (
            epochs_done % period == 0 or epochs_done == self.trainer.max_epoch)

    def _validate(self, epoch: int) -> None:
        """Validate the weights after ``epoch`` epochs (1-based) and write the record."""
        from .evaluator import evaluate, summary

        t = self.trainer
        metrics = evaluate(t.model_for_eval(), t.loader("val"), t.device, t.cfg, "val")
        t.writer.write({"type": "val_epoch", "epoch": epoch, "iter": t.iter, **summary(metrics)})

    def before_train(self) -> None:
        t = self.trainer
        if t.epoch_iter == 0 and self._due(t.epoch) and not du.broadcast_object(
                t.writer.has_record("val_epoch", t.iter)):
            logger.info("validating epoch %d: the interrupted run saved its checkpoint but did not "
                        "finish its validation", t.epoch)
            self._validate(t.epoch)

    def after_epoch(self) -> None:
        t = self.trainer
        if self._due(t.epoch + 1):
            self._validate(t.epoch + 1)


class MetricsWriter(HookBase):
    """Progress bar / log lines, ``train_iter`` and ``train_epoch`` records, TensorBoard scalars; each
    epoch also the bad videos replaced (all ranks) and the bad files newly found.

    The epoch's meters are part of every checkpoint, so the record of an epoch resumed mid-way equals
    an uninterrupted run's (its ``epoch_time`` counts training time, not the time the job was down)."""

    def __init__(self):
        self.meters = MeterGroup(window=20)
        self.progress: Optional[Progress] = None
        self.epoch_start = 0.0
        self.elapsed_before = 0.0  # training seconds of this epoch before the resume
        self.replaced = 0  # bad videos this rank replaced this epoch
        self.reported: Set[Tuple[str, str]] = set()  # (path, kind) of the bad files already logged
        self.restored_epoch: Optional[int] = None  # the epoch whose meters a checkpoint restored

    def state_dict(self) -> Dict:
        return {"epoch": self.trainer.epoch, "meters": self.meters.state_dict(), "replaced": self.replaced,
                "elapsed": self.elapsed_before + time.perf_counter() - self.epoch_start}

    def load_state_dict(self, per_rank: List[Dict]) -> None:
        # rank 0 reports: it takes rank 0's meters and every rank's bad-video count (which the
        # epoch's all-reduce sums), so any number of processes can resume
        self.meters.load_state_dict(per_rank[0]["meters"])
        self.replaced = sum(int(s["replaced"]) for s in per_rank) if du.is_main_process() else 0
        self.elapsed_before = float(per_rank[0]["elapsed"])
        self.restored_epoch = int(per_rank[0]["epoch"])

    def before_epoch(self) -> None:
        t = self.trainer
        if t.epoch_iter == 0 or self.restored_epoch != t.epoch:
            if t.epoch_iter:
                logger.warning("the checkpoint holds no statistics of epoch %d (saved by an older "
                               "version): its train_epoch record covers only iterations %d to %d",
                               t.epoch + 1, t.epoch_iter + 1, t.iters_per_epoch)
            self.meters.reset()
            self.replaced = 0
            self.elapsed_before = 0.0
        self.restored_epoch = None
        self.epoch_start = time.perf_counter()
        later = (t.max_epoch - t.epoch - 1) * t.iters_per_epoch  # the ETA covers the whole run
        self.progress = Progress(t.iters_per_epoch, f"epoch {t.epoch + 1}/{t.max_epoch}",
                                 t.cfg.LOG_PERIOD, start=t.epoch_iter, later=later)

    def after_step(self) -> None:
        t = self.trainer
        m = t.step_metrics
        self.replaced += m["replaced"]
        self.meters.add(weight=m["clips"], **{k: v for k, v in m.items() if k not in ("clips", "replaced")})
        self.progress.update(1, {"loss": m["loss"], "lr": m["lr"]})
        if (t.epoch_iter + 1) % t.cfg.LOG_PERIOD == 0 or t.epoch_iter + 1 == t.iters_per_epoch:
            recent = self.meters.recent()
            rec = {"type": "train_iter", "epoch": t.epoch + 1, "iter": t.iter + 1,
                   "epoch_iter": t.epoch_iter + 1, **recent, "lr": m["lr"],
                   "clips_per_s": t.global_batch / max(recent["iter_time"], 1e-9),
                   "eta_s": self.progress.eta(), "gpu_mem_mb": gpu_memory_mb(t.device)}
            t.writer.write(rec)

    def after_epoch(self) -> None:
        t = self.trainer
        self.progress.close()
        avg = self.meters.avg()
        elapsed = self.elapsed_before + time.perf_counter() - self.epoch_start
        replaced = int(du.all_reduce_sum(torch.tensor(float(self.replaced), device=t.device)))
        rec = {"type": "train_epoch", "epoch": t.epoch + 1, "iter": t.iter, **avg,
               "lr": t.optimizer.param_groups[0]["lr"], "epoch_time": elapsed,
               "clips_per_s": t.global_batch / max(avg.get("iter_time", 0.0), 1e-9),
               "gpu_mem_mb": gpu_memory_mb(t.device), "bad_videos_replaced": replaced}
        t.writer.write(rec)
        logger.info("epoch %d/%d: loss %.4f top1_err %.2f lr %.3g, %.1f clips/s, %.0f s, %d bad videos "
                    "replaced", t.epoch + 1, t.max_epoch, avg.get("loss", float("nan")),
                    avg.get("top1_err", float("nan")), rec["lr"], rec["clips_per_s"], elapsed, replaced)
        found = gather_bad_files(t.loader("train").dataset)
        new = [b for b in found if (b.path, b.kind) not in self.reported]
        self.reported.update((b.path, b.kind) for b in new)
        if new and du.is_main_process():
            logger.warning("epoch %d: %d bad files found: %s", t.epoch + 1, len(new), describe_bad_files(new))


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
