"""The exceptions a user sees, in one place, and the tuples the tools catch.

Each message names the file, key or value, says what was expected and how to fix it, so a tool
prints it as one line (:func:`error_line`) without a traceback. The classes are also importable
from the modules that raise them (``from timesformer.config import ConfigError`` and so on).
This module imports nothing from the package: every layer may raise these.
"""
import zipfile


class ConfigError(ValueError):
    """A configuration value that cannot work; the message says which key and how to fix it."""


class AnnotationError(ValueError):
    """An annotation file that cannot be used; names the file, the line (``file:line``) or JSON
    entry (``file: entry k``, counted from 0) and the fix."""


class BadVideosError(RuntimeError):
    """Too many unusable videos (or one at test time): the run stops, listing the files and the fix."""


class DecodeError(RuntimeError):
    """A video that cannot be read (missing, not a video, truncated, no frames); names the file."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"cannot read video {path}: {reason}")
        self.path, self.reason = path, reason


class FetchError(RuntimeError):
    """Weights could not be fetched from the Hugging Face hub or through timm (network, missing repo)."""


class UploadError(RuntimeError):
    """A folder could not be uploaded to the Hugging Face hub (not logged in, no write access, network)."""


class UnsafeFileError(ValueError):
    """A weights file refused because it holds pickled objects other than tensors and plain containers."""


class HeadsUnknownError(ValueError):
    """A weights file that does not state its number of attention heads, which its tensors cannot
    tell (or states one that does not divide its width); the message names ``--num-heads``."""


class WriteError(OSError):
    """A file could not be written (disk full, file-size limit); the message names it and what is intact."""


class ExportVerificationError(RuntimeError):
    """ONNX Runtime's outputs differ from PyTorch's by more than the tolerance."""


class UsageError(Exception):
    """A command line that cannot work (a missing or unusable argument, no GPU for ``--device cuda``, no
    SLURM on this machine): a tool prints it as one line and exits with status 2 before any work."""


class JobFailed(RuntimeError):
    """A spawned process of the job stopped; what it printed says why."""


# A bad config value or a file it names that cannot be used, a non-finite loss, an unusable annotation
# file, too many bad videos, a full disk: messages that name the key, iteration or file and say how to
# fix it, so tools print them without a traceback (a spawned process ends with them as one line).
USER_ERRORS = (ConfigError, FloatingPointError, AnnotationError, BadVideosError, WriteError)

# What loading weights raises for a missing or unusable file (refused, corrupt, failing its CRC-32,
# not fitting the model) or an unreachable hub/timm source; each message names the source.
LOAD_ERRORS = (ValueError, OSError, TypeError, FetchError, zipfile.BadZipFile)


def error_line(e: object) -> str:
    """``error: <message>`` of an exception or a message, on one line (a multi-line message's lines
    joined by '; ', a full stop before a '; ' dropped), as tools print it."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
    rest = "; ".join([line.removesuffix(".") for line in lines[1:-1]] + lines[-1:] if len(lines) > 1 else [])
    return f"error: {lines[0]}{' ' + rest if rest else ''}"
