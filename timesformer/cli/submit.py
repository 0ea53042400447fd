"""Submit ``tools/run_net.py`` to SLURM through submitit: one task per GPU, NUM_SHARDS nodes.

    python tools/submit.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml --partition gpu \
        --timeout-min 4320 NUM_GPUS 8 NUM_SHARDS 2 DATA.PATH_TO_DATA_DIR /data/k400
    python tools/submit.py --cfg configs/Synthetic/quickstart.yaml --dry-run
    python tools/submit.py --cfg configs/Synthetic/quickstart.yaml --cluster local

A preempted or timed-out job is requeued and auto-resumes from its newest checkpoint
(TRAIN.AUTO_RESUME). ``--dry-run`` prints the sbatch script instead of submitting;
``--cluster local`` / ``debug`` run the same job on this machine (debug: in this process).
Submitting to SLURM needs its ``srun`` and ``sbatch`` on this machine (a login node); without them the
tool says so (exit status 2).
"""
import argparse
import os
import shutil
import sys
from typing import List, Optional

import submitit
from submitit.core.utils import FailedJobError, FailedSubmissionError, UncompletedJobError

from timesformer.cli import common
from timesformer.errors import JobFailed, UsageError


class Job:
    """The callable submitit pickles: sets the env:// rendezvous from SLURM, then launches."""

    def __init__(self, cfg_file: str, opts: List[str]):
        self.cfg_file, self.opts = cfg_file, opts

    def __call__(self) -> None:
        """Run this task's process of the job."""
        from timesformer.config import load_config
        from timesformer.engine import launch, run

        cfg = load_config(self.cfg_file, self.opts)
        env = submitit.JobEnvironment()
        if env.num_tasks > 1:  # torch.distributed env:// variables; devices are picked by LOCAL_RANK
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        launch(run, cfg)

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        """On preemption / timeout: requeue the same job; it resumes from the newest checkpoint."""
        return submitit.helpers.DelayedSubmission(Job(self.cfg_file, self.opts))


def build_parser() -> argparse.ArgumentParser:
    """--cfg, the cluster's options and trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    common.add_cfg(p, required=True)
    p.add_argument("--cluster", default="slurm", choices=["slurm", "local", "debug"],
                   help="slurm (default), local (subprocesses here) or debug (this process)")
    p.add_argument("--partition", default="", help="SLURM partition")
    p.add_argument("--timeout-min", type=common.positive_int, default=72 * 60, help="time limit of one job in minutes")
    p.add_argument("--cpus-per-task", type=common.positive_int, default=10,
                   help="CPU cores per GPU (decoding workers)")
    p.add_argument("--mem-gb", type=int, default=0, help="memory per node in GB (0 = SLURM's default)")
    p.add_argument("--job-name", default="timesformer", help="the SLURM job name")
    p.add_argument("--log-dir", default="", help="submitit logs (default: OUTPUT_DIR/submitit)")
    p.add_argument("--dry-run", action="store_true", help="print the sbatch script, do not submit")
    common.add_overrides(p)
    return p


class DryRunSlurmExecutor(submitit.SlurmExecutor):
    """A SlurmExecutor that works without ``srun`` on this machine; used only to render the script."""

    @classmethod
    def affinity(cls) -> int:
        return 1


def build_executor(args: argparse.Namespace, cfg) -> submitit.Executor:
    """A submitit executor with one task per GPU on NUM_SHARDS nodes."""
    from timesformer.utils import distributed as du

    folder = args.log_dir or os.path.join(cfg.OUTPUT_DIR, "submitit")
    tasks = du.processes_per_machine(cfg)
    if args.cluster == "debug":
        executor = submitit.DebugExecutor(folder)
    elif args.cluster == "local":
        executor = submitit.LocalExecutor(folder)
        executor.update_parameters(timeout_min=args.timeout_min, nodes=1, tasks_per_node=1,
                                   gpus_per_node=cfg.NUM_GPUS)
    else:
        cls = DryRunSlurmExecutor if args.dry_run else submitit.SlurmExecutor
        executor = cls(folder, max_num_timeout=30)
        params = dict(job_name=args.job_name, time=args.timeout_min, nodes=cfg.NUM_SHARDS,
                      ntasks_per_node=tasks, gpus_per_node=cfg.NUM_GPUS, cpus_per_task=args.cpus_per_task,
                      signal_delay_s=120)
        if args.partition:
            params["partition"] = args.partition
        if args.mem_gb:
            params["mem"] = f"{args.mem_gb}GB"
        executor.update_parameters(**params)
    return executor


def check_slurm() -> None:
    """Submitting needs SLURM's commands here: a UsageError saying which are missing and what else works."""
    missing = [c for c in ("srun", "sbatch") if shutil.which(c) is None]
    if missing:
        raise UsageError(f"--cluster slurm: {' and '.join(missing)} not found on PATH, so this machine cannot "
                         "submit to SLURM; run on the cluster's login node, print the job with --dry-run, or run "
                         "it here with --cluster local")


def run(args: argparse.Namespace) -> int:
    """Check the config (preflight), then submit (or print) the job."""
    from timesformer.config import load_config

    cfg = load_config(args.cfg, args.opts)
    if args.cluster != "slurm" and cfg.NUM_SHARDS > 1:
        raise UsageError(f"NUM_SHARDS {cfg.NUM_SHARDS} > 1 needs --cluster slurm")
    if args.cluster == "slurm" and not args.dry_run:
        check_slurm()
    from timesformer.engine import preflight  # after the quick checks: the library takes seconds to import
    from timesformer.utils.logging import setup_logging

    setup_logging()
    preflight(cfg)
    executor = build_executor(args, cfg)
    job_fn = Job(os.path.abspath(args.cfg), list(args.opts))
    if args.dry_run:
        if isinstance(executor, submitit.SlurmExecutor):
            print(executor._make_submission_file_text(executor._submitit_command_str, "dry-run"))
        else:
            print(f"{type(executor).__name__} in {executor.folder}: would run {job_fn.cfg_file} "
                  f"{job_fn.opts}")
        return 0
    try:
        job = executor.submit(job_fn)
        print(f"submitted job {job.job_id}; logs in {executor.folder}, results in {cfg.OUTPUT_DIR}")
        if args.cluster != "slurm":
            job.result()  # local runs: wait, and raise the job's error if it failed
    except (FailedJobError, FailedSubmissionError, UncompletedJobError) as e:
        raise JobFailed(f"{str(e).strip().splitlines()[-1]} (logs in {executor.folder})") from e
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
