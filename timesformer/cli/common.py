"""What every tool shares: its parser (help from the module docstring), config overrides written last as
``KEY VALUE`` pairs (``--opts`` before them is accepted too), ``--cfg`` found locally or among the
packaged configs, and the exit statuses.

Exit status 0: done; 2: the command cannot work as given (a bad key or value, a missing file, an
unusable annotation file, ``--device cuda`` without a GPU, no SLURM), found before any work and
printed as one ``error: ...`` line; 1: the work started and failed (a video that cannot be read, a
test or a run that stopped, an export that does not match), also one line. Nothing here imports torch:
``--help`` and argument errors stay fast; a tool imports the library inside its ``run``.
"""
import argparse
import contextlib
import os
import re
import sys
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Type

from timesformer.errors import (
    USER_ERRORS,
    AnnotationError,
    ConfigError,
    DecodeError,
    ExportVerificationError,
    FetchError,
    JobFailed,
    UnsafeFileError,
    UsageError,
    error_line,
)

# The command cannot work as given: exit status 2.
USAGE_ERRORS = (UsageError, ConfigError, AnnotationError)
# The work started and failed: exit status 1 (each message names the file, key or step).
RUN_ERRORS = (*USER_ERRORS, JobFailed, DecodeError, ExportVerificationError, FetchError, UnsafeFileError)

# 'TRAIN.BATCH_SIZE', 'NUM_GPUS': the shape of a config key on a command line.
_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)*")
OVERRIDES_HELP = ("config overrides, written last: KEY VALUE pairs (e.g. TEST.NUM_SPATIAL_CROPS 1), checked as "
                  "in run_net: an unknown key is named with the closest ones")


class ToolParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one ``error: ...`` line and exit status 2."""

    def error(self, message: str) -> None:
        """Print the problem as one line (with where to look) and exit 2."""
        self.exit(2, f"{error_line(f'{self.prog}: {message}')} (see {self.prog} --help)\n")


def build(module: str, doc: str) -> ToolParser:
    """A tool's parser: the docstring's first paragraph as description, the rest (its usage examples
    and notes) as the epilog, and how to call it from an installed package."""
    summary, _, rest = doc.strip().partition("\n\n")
    name = module.rsplit(".", 1)[-1]
    epilog = (f"{rest.rstrip()}\n\n" if rest.strip() else "") + (
        f"In a checkout: python tools/{name}.py ARGS; installed with pip: timesformer {name} ARGS (the same).")
    return ToolParser(description=" ".join(summary.split()), epilog=epilog,
                      formatter_class=argparse.RawDescriptionHelpFormatter)


def config_file(text: str) -> str:
    """An argparse type: the config file ``text`` names, locally or among the packaged configs."""
    from timesformer.config import find_config

    try:
        return find_config(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def add_cfg(parser: argparse.ArgumentParser, required: bool = False, default: Optional[str] = None,
            what: str = "config YAML") -> None:
    """``--cfg FILE``: a path, or the name of a packaged config ('Kinetics/X.yaml', 'configs/Kinetics/X.yaml')."""
    parser.add_argument("--cfg", required=required, default=default, metavar="FILE", type=config_file,
                        help=f"{what}: a file, or a packaged config such as "
                             "configs/Kinetics/TimeSformer_divST_8x32_224.yaml (works from any folder)")


def add_overrides(parser: argparse.ArgumentParser) -> None:
    """The trailing ``KEY VALUE`` overrides (``args.opts``), and ``--opts`` before them."""
    parser.add_argument("overrides", nargs="*", default=[], metavar="KEY VALUE", help=OVERRIDES_HELP)
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY VALUE",
                        help="the same overrides after --opts (the older spelling; both work)")


def split_overrides(parser: argparse.ArgumentParser, argv: Sequence[str]) -> Tuple[List[str], List[str]]:
    """``argv`` -> (the tool's own arguments, the KEY VALUE overrides). The overrides start at ``--opts``
    or at the first word shaped like a config key (``TRAIN.BATCH_SIZE``, ``NUM_GPUS``) that is neither
    an option's value nor an existing file, so they may follow positional arguments; an option of the
    tool written where a key would come (``... TRAIN.ENABLE False --dry-run``) is still the tool's."""
    options = {s: a.nargs != 0 for a in parser._actions for s in a.option_strings}  # -> takes a value
    own, opts, i = [], [], 0
    while i < len(argv) and not opts:
        word = argv[i]
        if word == "--opts" or (_KEY.fullmatch(word) and not os.path.exists(word)):
            opts = argv[i:]
            break
        own.append(word)
        if options.get(word) and i + 1 < len(argv):
            own.append(argv[i + 1])
            i += 1
        i += 1
    keys: List[str] = []
    j = 0
    while j < len(opts):
        word = opts[j]
        if word == "--opts":
            j += 1
        elif word in options and len(keys) % 2 == 0:  # where a key would be: the tool's option
            take = 2 if options[word] else 1
            own += opts[j:j + take]
            j += take
        else:
            keys.append(word)
            j += 1
    return own, keys


def parse(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` (default: the command line); ``args.opts`` holds the overrides when the tool takes them."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "overrides" not in {a.dest for a in parser._actions}:
        return parser.parse_intermixed_args(argv)
    own, opts = split_overrides(parser, argv)
    args = parser.parse_intermixed_args(own)  # positional arguments may come after options
    if args.overrides:
        parser.error(f"unexpected argument(s) {' '.join(args.overrides)}: config overrides are KEY VALUE pairs "
                     "of upper-case keys, written last (e.g. TEST.NUM_SPATIAL_CROPS 1)")
    del args.overrides
    args.opts = opts
    return args


def check_overrides(opts: Sequence[str], cfg_file: Optional[str] = None) -> None:
    """The overrides' keys and value types, checked with the tool's config file (``--cfg``; else the
    defaults) before any weights or data are read: one ConfigError naming every unknown key (with the
    closest ones) and bad value of the file and the overrides. The tool loads its config later."""
    from timesformer.config import load_config

    load_config(cfg_file, opts)


@contextlib.contextmanager
def usage_errors(*types: Type[BaseException]) -> Iterator[None]:
    """Inside the block an exception of ``types`` means the command cannot work as given: exit status 2
    (e.g. a weights file named on the command line that cannot be loaded)."""
    try:
        yield
    except USAGE_ERRORS:
        raise
    except types as e:
        raise UsageError(str(e)) from e


def run_tool(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Any],
             argv: Optional[Sequence[str]] = None) -> int:
    """Parse, then ``run(args)``; its return value (None = 0) is the exit status, returned, never raised
    (``--help``: 0). A usage error is one ``error:`` line and status 2, a failed run one line and status
    1; anything else is a bug and keeps its traceback."""
    try:
        args = parse(parser, argv)
    except SystemExit as e:  # --help (0) or an argument error, already printed as one line (2)
        return e.code if isinstance(e.code, int) else 2
    try:
        if getattr(args, "opts", None):
            check_overrides(args.opts, getattr(args, "cfg", None))
        status = run(args)
    except USAGE_ERRORS as e:
        print(error_line(e), file=sys.stderr)
        return 2
    except RUN_ERRORS as e:
        print(error_line(e), file=sys.stderr)
        return 1
    return 0 if status is None else int(status)


def device(name: Optional[str]) -> Any:
    """``--device``: the torch device (default: cuda when available, else cpu); a CUDA device this torch
    cannot use is a UsageError."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise UsageError(f"--device {name}: not a device ({e}); use cpu or cuda (cuda:1 for the second GPU)") from e
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise UsageError(f"--device {name}: {why}; use --device cpu (or leave --device out)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s), "
                             f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return dev


def _positive(text: str, convert: Callable[[str], Any], expected: str) -> Any:
    """``convert(text)`` when it is above 0, else argparse's error saying ``expected``."""
    try:
        value = convert(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    return _positive(text, int, "a whole number of at least 1")


def positive_float(text: str) -> float:
    """An argparse type: a number above 0 (seconds, a stride)."""
    return _positive(text, float, "a number above 0")
