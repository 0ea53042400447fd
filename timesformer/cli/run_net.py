r"""Train and/or test a model from a config: trains when TRAIN.ENABLE, then tests when TEST.ENABLE.

    python tools/run_net.py --cfg configs/Synthetic/quickstart.yaml
    python tools/run_net.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml NUM_GPUS 8 \
        DATA.PATH_TO_DATA_DIR /data/k400 OUTPUT_DIR runs/divst
    python tools/run_net.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml --dry-run

NUM_GPUS > 1 starts one process per GPU; under torchrun the processes it started are used; without
CUDA it runs on the CPU (gloo). --dry-run loads and checks the config and runs the preflight (files,
folders, the weights a run starts from, the processes torchrun started; no GPU, nothing written) and
prints the plan: processes, clips per process and iteration, accumulation, effective batch,
iterations per epoch (from the training annotations), schedule, test batch, start and output folder.
Every error it explains is one line, ``error: ...``, on stderr (no traceback), naming the file, key or
value and what to do. Exit status 2: the config or command line cannot work (a bad key or value, a
config file that is missing, not valid YAML or inherits from itself, a file it names that is not
there, an unusable annotation file), found before anything starts; 1: the run stopped on a fault
found while running (a checkpoint or weights file that is refused, corrupt or does not fit the model,
a non-finite loss, too many unreadable videos, a full disk, a process of several that stopped).
"""
import argparse
import sys
from typing import List, Optional

from timesformer.cli import common


def build_parser() -> argparse.ArgumentParser:
    """--cfg FILE, --dry-run and trailing KEY VALUE overrides."""
    p = common.build(__name__, __doc__)
    common.add_cfg(p, required=True)
    p.add_argument("--dry-run", action="store_true",
                   help="check the config and its files, print the run's plan (processes, batches, iterations, "
                        "output folder, start) and exit: 0, or 2 naming every problem; starts nothing")
    common.add_overrides(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Preflight in this process (where the weights come from, decided once), then launch."""
    from timesformer.config import load_config

    cfg = load_config(args.cfg, args.opts)  # before the library is imported: a bad value answers at once
    from timesformer.engine import dry_run, launch_run
    from timesformer.utils.logging import setup_logging

    setup_logging()
    if args.dry_run:  # engine/plan.py: every preflight check, then the plan; writes nothing
        print(dry_run(cfg), end="")
        return 0
    launch_run(cfg, args.cfg, args.opts)  # the starting weights decide the channel order unless stated
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
