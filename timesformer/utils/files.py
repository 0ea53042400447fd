"""Atomic file writes: a reader (or a rerun after a kill) sees the old file or the whole new one."""
import os


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


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (through ``path.tmpPID``)."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        commit(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
