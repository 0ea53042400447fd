"""Training hooks: learning rate, checkpoints, validation and logging live here, not in the loop.

A hook takes its settings as arguments (the trainer builds them from the config) and sees the
trainer's state (``epoch``, ``epoch_iter``, ``iter``, ``step_metrics``, ...) through a weak reference,
as detectron2's hooks do: the trainer owns its hooks, not the other way round. It reacts before/after
training, each epoch and each iteration (one loader batch). A hook whose state must survive a kill
returns it from ``state_dict``: every checkpoint holds every rank's. Where records go is
``writers.py``.

Statistics are keyed by the global iteration (``iter``: iterations done when the record was made),
so a resumed run can supersede what the killed one wrote after its checkpoint.
"""
import logging
import time
import weakref
from typing import Callable, Dict, List, Optional, Set, Tuple

import torch

from timesformer.solver import set_lr
from timesformer.utils import distributed as du
from timesformer.utils.meters import MeterGroup, gpu_memory_mb
from timesformer.utils.progress import Progress

from .evaluator import evaluate, summary
from .writers import describe_bad_files, gather_bad_files

logger = logging.getLogger(__name__)


class HookBase:
    """Base class: override any of the six callbacks. ``self.trainer`` is a weak reference (a proxy)
    to the trainer, set by ``Trainer.register_hooks``."""

    trainer = None

    def attach(self, trainer) -> None:
        """Let this hook see ``trainer`` without keeping it alive (a weakref proxy)."""
        self.trainer = trainer if isinstance(trainer, weakref.ProxyTypes) else weakref.proxy(trainer)

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
    """Sets ``lr_at(fractional epoch)`` (the policy, with warm-up) before every iteration; with
    gradient accumulation the rate of a step is the one at its first iteration, as with the large batch."""

    def __init__(self, lr_at: Callable[[float], float]):
        self.lr_at = lr_at

    def before_step(self) -> None:
        t = self.trainer
        set_lr(t.optimizer, self.lr_at(t.epoch + t.group_start() / t.iters_per_epoch))


class PeriodicCheckpointer(HookBase):
    """Saves every ``epoch_period`` epochs (0: only at the end), at the end, and every ``iter_period``
    optimizer steps of an epoch (0: off; counted from the epoch's start, so resumed runs save at the
    same points; only where gradients were just applied)."""

    def __init__(self, epoch_period: int, iter_period: int = 0):
        self.epoch_period, self.iter_period = epoch_period, iter_period

    def after_step(self) -> None:
        t = self.trainer
        period = self.iter_period
        done = t.epoch_iter + 1  # iterations of this epoch done
        if period and t.stepped and done % (period * t.accum) == 0 and done < t.iters_per_epoch:
            t.save_checkpoint(epoch=t.epoch, epoch_iteration=t.epoch_iter + 1)

    def after_epoch(self) -> None:
        t = self.trainer
        period = self.epoch_period
        last = t.epoch + 1 == t.max_epoch
        if last or (period and (t.epoch + 1) % period == 0):
            t.save_checkpoint(epoch=t.epoch + 1, epoch_iteration=0)


class EvalHook(HookBase):
    """Validates every ``period`` epochs (0: never) and after the last one; writes ``val_epoch``.

    A run resumed from an end-of-epoch checkpoint whose validation stats.jsonl lacks (killed after
    the checkpoint, before ``val_epoch`` was written; or continued in a new OUTPUT_DIR) validates
    that epoch before training on."""

    def __init__(self, period: int):
        self.period = period

    def _due(self, epochs_done: int) -> bool:
        period = self.period
        return bool(period) and epochs_done > 0 and (
            epochs_done % period == 0 or epochs_done == self.trainer.max_epoch)

    def _validate(self, epoch: int) -> None:
        """Validate the weights after ``epoch`` epochs (1-based) and write the record."""
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
    an uninterrupted run's (its ``epoch_time`` counts training time, not the time the job was down).
    A line and a ``train_iter`` record every ``log_period`` iterations; ``clips_per_iter``: clips per
    iteration over all processes (``TrainBatch.per_iteration``), for the clips/s."""

    def __init__(self, log_period: int, clips_per_iter: int):
        self.log_period, self.clips_per_iter = log_period, clips_per_iter
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
                                 self.log_period, start=t.epoch_iter, later=later)

    def after_step(self) -> None:
        t = self.trainer
        m = t.step_metrics
        self.replaced += m["replaced"]
        # the loss is the iteration's mean over all processes, the rest this process's own
        self.meters.add(weight=m["loss_clips"], loss=m["loss"])
        self.meters.add(weight=m["clips"], **{k: v for k, v in m.items()
                                              if k not in ("clips", "loss_clips", "loss", "replaced")})
        self.progress.update(1, {"loss": m["loss"], "lr": m["lr"]})
        if (t.epoch_iter + 1) % self.log_period == 0 or t.epoch_iter + 1 == t.iters_per_epoch:
            recent = self.meters.recent()
            rec = {"type": "train_iter", "epoch": t.epoch + 1, "iter": t.iter + 1,
                   "epoch_iter": t.epoch_iter + 1, **recent, "lr": m["lr"],
                   "clips_per_s": self.clips_per_iter / max(recent["iter_time"], 1e-9),
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
               "clips_per_s": self.clips_per_iter / max(avg.get("iter_time", 0.0), 1e-9),
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
