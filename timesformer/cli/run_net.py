#!/usr/bin/env python
"""Train and/or test a model from a config: ``python tools/run_net.py --cfg FILE [KEY VALUE ...]``.

Trains when TRAIN.ENABLE, then tests when TEST.ENABLE. NUM_GPUS > 1 starts one process per GPU;
under torchrun the processes it started are used; without CUDA it runs on the CPU (gloo).
Every error it explains is one line, ``error: ...``, on stderr (no traceback), naming the file, key or
value and what to do. Exit status 2: the config or command line cannot work (a bad key or value, a
config file that is missing, not valid YAML or inherits from itself, a file it names that is not
there), found before anything starts; 1: the run stopped on a fault found while running (a checkpoint
or weights file that is refused, corrupt or does not fit the model, a non-finite loss, an unusable
annotation file, a full disk).
"""
import argparse
import functools
import sys
from typing import List, Optional

from timesformer.config import load_config
from timesformer.config.stated import stated_keys
from timesformer.engine import launch, preflight, run, settle_channel_order
from timesformer.errors import USER_ERRORS, ConfigError, JobFailed, error_line
from timesformer.utils.logging import setup_logging


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """--cfg FILE and trailing KEY VALUE overrides."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cfg", dest="cfg_file", required=True, help="YAML config file")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE pairs")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    setup_logging()
    try:
        cfg = load_config(args.cfg_file, args.opts)
        start = preflight(cfg)  # where the weights come from, decided once for every process
        # The weights the run starts from decide the input channel order, unless the user states it.
        stated = "DATA.INPUT_CHANNEL_ORDER" in stated_keys(args.cfg_file, args.opts)
        cfg = settle_channel_order(cfg, stated, start)
    except ConfigError as e:
        print(error_line(e), file=sys.stderr)
        return 2
    try:
        launch(functools.partial(run, start=start), cfg)
    except (*USER_ERRORS, JobFailed) as e:
        print(error_line(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
