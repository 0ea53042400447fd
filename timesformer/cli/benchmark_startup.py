"""Start-up time of the tools: each tool's --help and load_config against ``import torch``, as ratios.

    python tools/benchmark_startup.py --runs 5
    python tools/benchmark_startup.py --runs 3 --tools predict run_net --model-info

Every command is a fresh ``python`` process, run --runs times, the commands taking turns (so a change in
the machine's load falls on all of them); the table gives the median wall-clock and CPU seconds
(user + system) and their ratio to ``python -c "import torch"``. Our aim: at most 1.2x for --help and
for load_config. --model-info adds ``model_info MODEL.NUM_CLASSES 400`` (ViT-B's exact parameters and
GFLOPs, the install check of INSTALL.md). In a checkout the tools run as ``python tools/NAME.py``,
otherwise as ``python -m timesformer NAME``.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

from timesformer.cli import TOOLS, common

CHECKOUT_TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools")
LOAD_CONFIG = ("from timesformer.config import load_config; "
               "load_config('configs/Kinetics/TimeSformer_divST_8x32_224.yaml')")


def build_parser() -> argparse.ArgumentParser:
    """--runs, --tools, --model-info."""
    p = common.build(__name__, __doc__)
    p.add_argument("--runs", type=common.positive_int, default=5, help="processes per command (the median is shown)")
    p.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS), metavar="TOOL",
                   help="the tools whose --help is timed (default: all)")
    p.add_argument("--model-info", action="store_true", help="also time model_info MODEL.NUM_CLASSES 400 (ViT-B)")
    return p


def tool_command(name: str, *argv: str) -> List[str]:
    """``python tools/NAME.py ARGV`` in a checkout, else ``python -m timesformer NAME ARGV``."""
    script = os.path.join(CHECKOUT_TOOLS, f"{name}.py")
    return [sys.executable, script, *argv] if os.path.isfile(script) else [sys.executable, "-m", "timesformer",
                                                                           name, *argv]


def commands(tools: List[str], model_info: bool) -> Dict[str, List[str]]:
    """The timed commands by label, the baseline first."""
    out = {"import torch": [sys.executable, "-c", "import torch"], "load_config": [sys.executable, "-c", LOAD_CONFIG]}
    out.update({f"{name} --help": tool_command(name, "--help") for name in tools})
    if model_info:
        out["model_info MODEL.NUM_CLASSES 400"] = tool_command("model_info", "MODEL.NUM_CLASSES", "400")
    return out


def time_once(cmd: List[str]) -> Tuple[float, float]:
    """(wall, CPU) seconds of one run of ``cmd``; a failing command is an error naming it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(cmds: Dict[str, List[str]], runs: int) -> Dict[str, Tuple[float, float]]:
    """Median (wall, CPU) seconds of every command, the commands taking turns ``runs`` times."""
    times: Dict[str, List[Tuple[float, float]]] = {label: [] for label in cmds}
    for _ in range(runs):
        for label, cmd in cmds.items():
            times[label].append(time_once(cmd))
    return {label: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
            for label, ts in times.items()}


def table(medians: Dict[str, Tuple[float, float]], runs: int) -> str:
    """A markdown table: median seconds and the ratio to ``import torch``."""
    base_wall, base_cpu = medians["import torch"]
    lines = [f"| command (median of {runs}) | wall (s) | x import torch | CPU (s) | x import torch |",
             "|---|---|---|---|---|"]
    for label, (wall, cpu) in medians.items():
        lines.append(f"| `{label}` | {wall:.2f} | {wall / base_wall:.2f} | {cpu:.2f} | {cpu / base_cpu:.2f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Time, print the table."""
    print(table(measure(commands(args.tools, args.model_info), args.runs), args.runs))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
