"""The command-line tools, one module each: ``timesformer.cli.<name>.main(argv) -> exit status``.

``timesformer <name> ARGS`` (the console script pip installs) and ``python tools/<name>.py ARGS`` (in a
checkout) run the same ``main`` with the same arguments; ``timesformer --help`` lists the tools. The
tools' modules import the library inside ``main``, so ``--help`` and argument errors answer at once.
"""
import difflib
import importlib
import sys
from typing import List, Optional

# Every tool, in the order ``timesformer --help`` lists them.
TOOLS = ("run_net", "predict", "extract_features", "visualize_attention", "export", "convert_checkpoint",
         "make_annotations", "check_videos", "model_info", "submit", "ablate_attention", "benchmark", "benchmark_table",
         "benchmark_data", "benchmark_eval_gather", "benchmark_startup")


def summary(name: str) -> str:
    """The first line of tool ``name``'s docstring."""
    doc = importlib.import_module(f"timesformer.cli.{name}").__doc__ or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def usage() -> str:
    """``timesformer --help``: the tools with what each does."""
    from timesformer import __version__

    width = max(map(len, TOOLS))
    lines = [f"usage: timesformer TOOL [ARGS ...]   (timesformer {__version__})", "",
             "Training and evaluating TimeSformer video transformers. The tools:", ""]
    lines += [f"  {name:<{width}}  {summary(name)}" for name in TOOLS]
    lines += ["", "timesformer TOOL --help shows a tool's arguments and examples; in a checkout, "
              "python tools/TOOL.py ARGS is the same."]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """``timesformer TOOL ARGS`` -> ``timesformer.cli.TOOL.main(ARGS)``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        from timesformer import __version__

        print(f"timesformer {__version__}")
        return 0
    name = argv[0].replace("-", "_")
    if name not in TOOLS:
        close = difflib.get_close_matches(name, TOOLS, n=2)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        print(f"error: timesformer: no tool {argv[0]!r}; {hint}the tools: {', '.join(TOOLS)} "
              "(timesformer --help says what each does)", file=sys.stderr)
        return 2
    program, sys.argv[0] = sys.argv[0], f"timesformer {name}"  # the tool's usage names the command as typed
    try:
        return importlib.import_module(f"timesformer.cli.{name}").main(argv[1:])
    finally:
        sys.argv[0] = program
