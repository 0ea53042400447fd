r"""Submit ``tools/run_net.py`` to SLURM through submitit: one task per GPU, NUM_SHARDS nodes.

    python tools/submit.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml --partition gpu \
        --timeout-min 4320 NUM_GPUS 8 NUM_SHARDS 2 DATA.PATH_TO_DATA_DIR /data/k400
    python tools/submit.py --cfg configs/Synthetic/quickstart.yaml --dry-run
    python tools/submit.py --cfg configs/Synthetic/quickstart.yaml --cluster local
    python tools/submit.py --cfg configs/HowTo100M/TimeSformer_divST_8x32_224.yaml --partition gpu \
        --tool extract_features --tool-args "--weights W.pyth --out feats/ --clips cover" NUM_GPUS 8 NUM_SHARDS 4

A preempted or timed-out job is requeued and auto-resumes from its newest checkpoint
(TRAIN.AUTO_RESUME). ``--dry-run`` prints the sbatch script instead of submitting, and for run_net
checks the run as ``run_net --dry-run`` does and prints its plan; ``--cluster local`` / ``debug`` run
the same job on this machine (debug: in this process).
``--tool extract_features`` runs tools/extract_features.py with ``--tool-args`` in every task instead,
its videos shared out over all of them (a requeued job skips the videos already done).
Submitting to SLURM needs its ``srun`` and ``sbatch`` on this machine (a login node); without them the
tool says so (exit status 2).
"""
import argparse
import importlib
import os
import shlex
import shutil
import sys
from typing import List, Optional

import submitit
from submitit.core.utils import FailedJobError, FailedSubmissionError, UncompletedJobError

from timesformer.cli import common
from timesformer.errors import JobFailed, UsageError

JOB_TOOLS = ("run_net", "extract_features")  # what a job's tasks may run (--tool)


class Job:
    """The callable submitit pickles: sets the env:// rendezvous from SLURM, then launches."""

    def __init__(self, cfg_file: str, opts: List[str]):
        self.cfg_file, self.opts = cfg_file, opts

    def __call__(self) -> None:
        """Run this task's process of the job."""
        from timesformer.config import load_config
        from timesformer.engine import launch_run

        cfg = load_config(self.cfg_file, self.opts)
        export_rendezvous()
        launch_run(cfg, self.cfg_file, self.opts)  # as run_net starts a run

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        """On preemption / timeout: requeue the same job; it resumes from the newest checkpoint."""
        return submitit.helpers.DelayedSubmission(Job(self.cfg_file, self.opts))


def export_rendezvous() -> None:
    """This task's torch.distributed env:// variables from SLURM (several tasks); devices are picked by LOCAL_RANK."""
    if submitit.JobEnvironment().num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


class ToolJob:
    """The callable submitit pickles for ``--tool extract_features``: every task runs the tool with
    ``argv`` under the SLURM rendezvous, as torchrun would start it."""

    def __init__(self, tool: str, argv: List[str]):
        self.tool, self.argv = tool, argv

    def __call__(self) -> None:
        """Run this task's process of the tool; a non-zero exit status fails the job."""
        export_rendezvous()
        status = importlib.import_module(f"timesformer.cli.{self.tool}").main(self.argv)
        if status:
            raise JobFailed(f"{self.tool} ended with exit status {status}; its output above says why")

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        """On preemption / timeout: requeue the same job; the rerun skips the videos already done."""
        return submitit.helpers.DelayedSubmission(ToolJob(self.tool, self.argv))


def tool_job(args: argparse.Namespace) -> ToolJob:
    """``--tool``'s job with ``--cfg``, ``--tool-args`` and the overrides, its arguments checked now
    (exit status 2 for what its parser refuses)."""
    argv = ["--cfg", os.path.abspath(args.cfg), *shlex.split(args.tool_args), *args.opts]
    parser = importlib.import_module(f"timesformer.cli.{args.tool}").build_parser()

    def refuse(message: str) -> None:
        raise UsageError(f"--tool-args for {args.tool}: {message} (see {args.tool} --help)")

    parser.error = refuse
    common.parse(parser, argv)
    return ToolJob(args.tool, argv)


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
    p.add_argument("--tool", choices=JOB_TOOLS, default="run_net",
                   help="what every task runs: run_net (train and test, default) or extract_features")
    p.add_argument("--tool-args", default="", metavar="'ARGS'",
                   help="--tool extract_features: its own arguments, quoted as one (e.g. '--weights W --out feats/')")
    p.add_argument("--dry-run", action="store_true",
                   help="print the sbatch script and, for run_net, the run's plan (exit 2 naming every problem); "
                        "submit nothing")
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
    if args.tool_args and args.tool == "run_net":
        raise UsageError("--tool-args is for --tool extract_features; run_net takes --cfg and KEY VALUE overrides")
    from timesformer.engine import dry_run, preflight  # after the quick checks: the library takes seconds to import
    from timesformer.utils.logging import setup_logging

    setup_logging()
    plan_text = ""
    if args.tool == "run_net":
        if args.dry_run:
            plan_text = dry_run(cfg)  # every check of preflight, then the plan
        else:
            preflight(cfg)
        job_fn = Job(os.path.abspath(args.cfg), list(args.opts))
    else:  # the tool checks its weights and data in every task
        job_fn = tool_job(args)
    executor = build_executor(args, cfg)
    if args.dry_run:
        if isinstance(executor, submitit.SlurmExecutor):
            print(executor._make_submission_file_text(executor._submitit_command_str, "dry-run"))
        else:
            what = f"{job_fn.cfg_file} {job_fn.opts}" if isinstance(job_fn, Job) else " ".join(job_fn.argv)
            print(f"{type(executor).__name__} in {executor.folder}: would run {what}")
        print(plan_text, end="")
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
