"""Atomic file writes: a reader (or a rerun after a kill) sees the old file or the whole new one."""
import contextlib
import os
from typing import IO, Iterator


def fsync_dir(path: str) -> None:
    """Make a rename inside folder ``path`` durable (where the filesystem supports it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: str, path: str) -> None:
    """Flush ``tmp`` to disk and rename it over ``path`` (atomic on one filesystem)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w") -> Iterator[IO]:
    """A file to write ``path`` through: ``path.tmpPID``, flushed, synced and renamed over ``path`` when
    the block ends cleanly; an error (or a kill) in the block leaves ``path`` as it was and, but for a
    kill, no temporary file. The file gets the usual mode (0666 less the umask)."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(os.path.dirname(os.path.abspath(path)))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path) as f:
        f.write(text)
