"""The plan of a run, worked out without starting it (``--dry-run`` of the run_net and submit tools,
however they are called): every check of ``preflight`` (all problems at once), then the processes, the
batch of each (TRAIN.BATCH_SIZE split over them, evenly or not, the rest accumulated), the iterations of an epoch
when the training annotations can be read, the output folder and where the weights come from.
Nothing is written, no process group is joined, no weights are fetched; under torchrun each process
plans from the variables torchrun set, and only RANK 0 reports.
"""
import math
import os
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from fvcore.common.config import CfgNode

from timesformer.data import DATASETS, TrainBatch, eval_batch, iterations_per_epoch, train_batch
from timesformer.errors import AnnotationError
from timesformer.utils import distributed as du

from .resume import Start
from .runner import preflight


@dataclass
class Plan:
    """What a run would do; ``describe`` words it. ``train`` is None when TRAIN.ENABLE is off; the
    epoch's counts are None when the annotations cannot be read (``videos_note`` says why);
    ``torchrun_world``: the WORLD_SIZE torchrun (or SLURM) set, None when the tool starts the processes."""

    cfg: CfgNode
    processes_per_machine: int
    machines: int
    gpus: bool
    cuda_here: bool
    torchrun_world: Optional[int]
    train: Optional[TrainBatch]
    test_per_process: Optional[int]
    train_videos: Optional[int]
    iters_per_epoch: Optional[int]
    steps_per_epoch: Optional[int]
    videos_note: str
    output_dir: str
    start: Start

    @property
    def processes(self) -> int:
        """Processes of the job."""
        return self.processes_per_machine * self.machines

    def describe(self) -> str:
        """The plan as a few labelled lines (what ``--dry-run`` prints)."""
        rows = [("processes", self._processes()), ("train batch", self._train()), ("train epoch", self._epoch()),
                ("schedule", self._schedule()), ("test batch", self._test()), ("start", describe_start(self.start)),
                ("output", self._output())]
        return "run plan (--dry-run: nothing was started or written)\n" + "".join(
            f"  {label:<12} {text}\n" for label, text in rows if text)

    def _processes(self) -> str:
        where = "one per GPU" if self.gpus else "on the CPU (gloo)"
        if self.gpus and not self.cuda_here:
            where += "; this machine has no CUDA GPU: here they would run on the CPU (gloo)"
        launcher = f"; torchrun started them (WORLD_SIZE {self.torchrun_world})" if self.torchrun_world else ""
        return (f"{_n(self.processes, 'process', 'processes')} = {_n(self.machines, 'machine')} (NUM_SHARDS) x "
                f"{self.processes_per_machine} per machine (NUM_GPUS), {where}{launcher}")

    def _train(self) -> str:
        b = self.train
        if b is None:
            return "none (TRAIN.ENABLE False)"
        cap = f"(TRAIN.MAX_BATCH_PER_PROCESS {self.cfg.TRAIN.MAX_BATCH_PER_PROCESS or 'no limit'})"
        if b.uniform:
            return (f"{b.effective} clips per optimizer step (TRAIN.BATCH_SIZE) = "
                    f"{_n(b.processes, 'process', 'processes')} x {_n(b.per_process, 'clip')} x "
                    f"{_n(b.accumulation, 'iteration')} accumulated {cap}")
        shares = " or ".join(str(n) for n in sorted({b.share(0), b.share(b.processes - 1)}, reverse=True))
        return (f"{b.effective} clips per optimizer step (TRAIN.BATCH_SIZE) over "
                f"{_n(b.processes, 'process', 'processes')}: {shares} clips per process per step, "
                f"{_n(b.accumulation, 'iteration')} of at most {_n(b.per_process, 'clip')} accumulated {cap}; "
                "each clip's loss weighted alike")

    def _epoch(self) -> str:
        if self.train is None:
            return ""
        if self.iters_per_epoch is None:
            return f"iterations unknown: {self.videos_note}"
        if self.iters_per_epoch == 0:
            what = (f"one iteration of {self.train.per_iteration:g} clips" if self.train.uniform else
                    f"one optimizer step of {self.train.effective} clips (uneven shares run whole steps only)")
            return f"no iteration: {_n(self.train_videos, 'video')} ({self.cfg.TRAIN.DATASET} train) do not fill {what}"
        return (f"{_n(self.train_videos, 'video')} ({self.cfg.TRAIN.DATASET} train): "
                f"{_n(self.iters_per_epoch, 'iteration')}, {_n(self.steps_per_epoch, 'optimizer step')} per epoch")

    def _schedule(self) -> str:
        if self.train is None:
            return ""
        s = self.cfg.SOLVER
        total = f", {self.steps_per_epoch * s.MAX_EPOCH} steps" if self.steps_per_epoch is not None else ""
        return (f"{s.OPTIMIZING_METHOD}, SOLVER.BASE_LR {s.BASE_LR:g} ({s.LR_POLICY}) over "
                f"{_n(s.MAX_EPOCH, 'epoch')}{total}")

    def _test(self) -> str:
        if self.test_per_process is None:
            return "none (TEST.ENABLE False)"
        t = self.cfg.TEST
        return (f"{_n(self.test_per_process, 'clip')} per process at a time (TEST.BATCH_SIZE {t.BATCH_SIZE} over "
                f"{_n(self.processes, 'process', 'processes')}), {t.NUM_ENSEMBLE_VIEWS} x {t.NUM_SPATIAL_CROPS} "
                "views per video")

    def _output(self) -> str:
        state = "exists" if os.path.isdir(self.output_dir) else "to be created"
        return f"{self.output_dir} ({state}; OUTPUT_DIR)"


def _n(count: int, word: str, plural: str = "") -> str:
    """'1 clip', '4 clips'."""
    return f"{count} {word if count == 1 else plural or word + 's'}"


def describe_start(start: Start) -> str:
    """Where the weights of a run come from, in words."""
    skipped = f" (checkpoints skipped: {start.skipped})" if start.skipped else ""
    if start.kind == "resume":
        iteration = f", iteration {start.header.iteration}" if start.header else ""
        return f"resume from {start.source} (TRAIN.AUTO_RESUME{iteration})"
    words = {"checkpoint": "continue the training state in", "finetune": "fine-tune the weights of",
             "pretrained": "pretrained weights", "test": "test the weights of"}
    if start.kind in words:
        return f"{words[start.kind]} {start.source} ({start.key}){skipped}"
    return f"random weights (no checkpoint, TIMESFORMER.PRETRAINED_MODEL ''){skipped}"


def count_train_videos(cfg) -> Tuple[Optional[int], str]:
    """The videos of TRAIN.DATASET's train split from its annotations, or None and why not."""
    try:
        return DATASETS[cfg.TRAIN.DATASET].count_videos(cfg, "train"), ""
    except (AnnotationError, OSError, ValueError) as e:
        return None, f"the training annotations cannot be read ({e})"


def plan(cfg) -> Plan:
    """Check ``cfg`` as ``preflight`` does (one ConfigError listing every problem) and work out the
    run's plan; writes nothing, starts nothing."""
    start = preflight(cfg)
    processes = du.config_world_size(cfg)
    batch = train_batch(cfg, processes) if cfg.TRAIN.ENABLE else None
    videos, note, iters, steps = None, "", None, None
    if batch is not None:
        videos, note = count_train_videos(cfg)
        if videos is not None:
            iters = iterations_per_epoch(videos, batch)
            steps = math.ceil(iters / batch.accumulation)
    return Plan(cfg, du.processes_per_machine(cfg), cfg.NUM_SHARDS, cfg.NUM_GPUS > 0, torch.cuda.is_available(),
                int(os.environ["WORLD_SIZE"]) if du.env_launched() else None, batch,
                eval_batch(cfg, processes) if cfg.TEST.ENABLE else None, videos, iters, steps, note,
                os.path.abspath(cfg.OUTPUT_DIR), start)


def dry_run(cfg) -> str:
    """The ``--dry-run`` of run_net and submit: the plan of ``cfg`` as text, or a ConfigError listing
    every problem. Under torchrun each process checks the same; only RANK 0 returns the text (the
    others ''), so the plan is printed once."""
    text = plan(cfg).describe()
    return text if int(os.environ.get("RANK", "0")) == 0 else ""
