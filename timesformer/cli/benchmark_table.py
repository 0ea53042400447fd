r"""Run a list of ``tools/benchmark.py`` commands in one process and write the table of results.

    python tools/benchmark_table.py --commands tools/benchmark_suite.txt --json results.jsonl \
        --markdown table.md

Each non-empty line of the commands file (``#`` starts a comment) holds the arguments of one
``tools/benchmark.py`` call. A failing command is logged and skipped; the rest still run. Every row
of the markdown table names the command that produced it.
"""
import argparse
import logging
import os
import shlex
import sys
import time
import traceback
from typing import Dict, List, Optional

from timesformer.cli import benchmark, common
from timesformer.errors import UsageError
from timesformer.utils.strict_json import dumps

logger = logging.getLogger("benchmark_table")


def read_commands(path: str) -> List[str]:
    """The argument lines of a commands file, comments and blank lines dropped."""
    with open(path) as f:
        lines = [line.split("#", 1)[0].strip() for line in f]
    return [line for line in lines if line]


def run_all(commands: List[str], json_path: Optional[str]) -> List[Dict]:
    """Run each command; return every row, each with the command that produced it."""
    rows = []
    for i, command in enumerate(commands):
        print(f"=== [{i + 1}/{len(commands)}] tools/benchmark.py {command}", flush=True)
        start = time.perf_counter()
        try:
            new = benchmark.run(benchmark.parse_args(shlex.split(command)))
        except (Exception, SystemExit) as e:  # one failure (or bad line) must not cost the rest of the table
            traceback.print_exc()
            new = [dict(name="(failed)", error=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")]
        for r in new:
            r["command"] = f"python tools/benchmark.py {command}"
            r["wall_s"] = time.perf_counter() - start
        rows.extend(new)
        if json_path:
            with open(json_path, "a") as f:
                f.writelines(dumps(r) + "\n" for r in new)  # strict JSON: a NaN is null
        import torch

        torch._dynamo.reset()  # torch >= 2.4 has it
        benchmark._free(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    return rows


def _fmt(value: Optional[float], spec: str, scale: float = 1.0) -> str:
    return "n/a" if value is None else format(value * scale, spec)


def markdown(rows: List[Dict]) -> str:
    """A markdown table of rows: scheme, shape, mode, model, batch, clips/s, MFU, memory, ratio, command."""
    out = ["| scheme | frames x size | mode | model | batch | clips/s | MFU | peak memory (GiB) | ratio | command |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        shape = f"{r.get('frames', '?')}x{r.get('size', '?')}"
        if "error" in r:
            cells = [r.get("scheme", "?"), shape, r.get("mode", "?"), r["name"], str(r.get("batch", "?")),
                     r["error"], "", "", ""]
        else:
            cells = [r["scheme"], shape, r["mode"], r["name"], str(r["batch"]), f"{r['clips_per_s']:.1f}",
                     _fmt(r["mfu"], ".1%"), _fmt(r["peak_mem_gib"], ".1f"), _fmt(r.get("ratio"), ".2f")]
        out.append("| " + " | ".join(cells + [f"`{r['command']}`"]) + " |")
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """--commands, --json, --markdown."""
    p = common.build(__name__, __doc__)
    p.add_argument("--commands", required=True, help="file with one benchmark.py argument line per line")
    p.add_argument("--json", default=None, help="append each row as a JSON line here")
    p.add_argument("--markdown", default=None, help="write the markdown table here")
    return p


def run(args: argparse.Namespace) -> int:
    """Every command's rows, the table printed (and written); status 1 when a command failed."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not os.path.isfile(args.commands):
        raise UsageError(f"--commands {args.commands!r} is not a file; give a text file of benchmark.py arguments")
    rows = run_all(read_commands(args.commands), args.json)
    table = markdown(rows)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    return 0 if all("error" not in r or r["error"] == "out of memory" for r in rows) else 1


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
