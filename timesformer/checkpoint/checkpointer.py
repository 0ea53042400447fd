"""Training checkpoints: atomic saves, the newest valid one found after a preemption, RNG states.

Files are ``<OUTPUT_DIR>/checkpoints/checkpoint_epoch_EEEEE_iter_IIIIIIIII.pyth``. A save writes a
temporary file, fsyncs it and renames it over the final name, so a kill during a save leaves the
previous checkpoints intact. A file that is nevertheless unreadable (copied half-way, disk full,
blocks lost in a crash) is skipped with a warning, falling back to the next older one:
:meth:`Checkpointer.load_latest`, which resuming uses, reads it in full and checks its CRC-32s;
:meth:`Checkpointer.find_latest` only its index. Pruning never deletes the file just saved nor the
newest readable checkpoint, and moves unreadable files aside (``*.corrupt``) instead of counting them.
"""
import glob
import logging
import math
import os
import random
import re
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np
import torch

from .formats import UnsafeFileError, WriteError, _load_torch, atomic_torch_save, first_sentence

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^checkpoint_epoch_(\d+)_iter_(\d+)\.pyth$")
# Files already warned about in this process, by (path, size, mtime): one warning per file, however
# many times the preflight, the model builder and the resume look for the newest checkpoint.
_WARNED: Set[Tuple[str, int, int]] = set()


class Checkpointer:
    """Saves, lists, prunes and loads the training checkpoints of one run.

    ``output_dir`` is the run's OUTPUT_DIR; files go to its ``checkpoints`` folder (a path that
    already ends in ``checkpoints`` is used as is). ``keep_last`` newest readable files are kept (0 = all).
    """

    def __init__(self, output_dir: str, keep_last: int = 3):
        self.dir = output_dir if os.path.basename(os.path.normpath(output_dir)) == "checkpoints" \
            else os.path.join(output_dir, "checkpoints")
        self.keep_last = keep_last
        self.skipped: Dict[str, str] = {}  # path -> why it could not be used ("refused (...)", ...)
        self.last_saved: Optional[str] = None  # the file this process saved last
        self._intact: Dict[str, Tuple[int, int]] = {}  # path -> (size, mtime) when last found intact

    def path_for(self, epoch: int, iteration: int) -> str:
        """File name of the checkpoint at (epoch, global iteration)."""
        return os.path.join(self.dir, f"checkpoint_epoch_{epoch:05d}_iter_{iteration:09d}.pyth")

    def _indexed(self) -> List[Tuple[Tuple[int, int], str]]:
        found = []
        for path in glob.glob(os.path.join(self.dir, "checkpoint_epoch_*.pyth")):
            m = _NAME.match(os.path.basename(path))
            if m:
                found.append(((int(m.group(1)), int(m.group(2))), path))
        return sorted(found)

    def list(self) -> List[str]:
        """Checkpoint files, oldest first (by epoch, then iteration)."""
        return [p for _, p in self._indexed()]

    def save(self, state: Dict[str, Any], epoch: int, iteration: int) -> str:
        """Write ``state`` atomically and prune old files; returns the path.

        Convention: ``state['epoch']`` is the epoch to run next (0-based) and
        ``state['epoch_iteration']`` the iterations of it already done (0 at an epoch boundary).
        """
        os.makedirs(self.dir, exist_ok=True)
        path = self.path_for(epoch, iteration)
        try:
            atomic_torch_save(state, path)
        except WriteError as e:
            previous = self.list()
            note = (f"; {previous[-1]} is intact (the newest checkpoint): the same command resumes from it "
                    "once there is space") if previous else ""
            raise WriteError(f"{e}{note}") from e
        self._intact[path] = _stamp(path)  # fsynced and renamed into place: not read back
        self.last_saved = path
        self.prune(keep=path)
        logger.info("saved checkpoint %s", path)
        return path

    def prune(self, keep: Optional[str] = None) -> None:
        """Keep ``keep`` (the file just saved) and the newest ``keep_last`` readable checkpoints, move
        unreadable ones among those aside as ``*.corrupt`` (not counted as kept), delete the older
        ones and temporary files left by a killed save. ``keep_last`` 0 keeps (and reads) every file.

        Readable means read in full with intact CRC-32s, once per file and process (remembered by
        size and modification time), so the first save after a resume reads the kept files again.
        """
        for tmp in glob.glob(os.path.join(self.dir, "checkpoint_epoch_*.pyth.tmp*")):
            os.remove(tmp)  # saves are synchronous: no save of this run is in progress now
        if self.keep_last == 0:
            return
        kept = 0
        for path in reversed(self.list()):
            if path == keep:
                kept += 1
            elif kept >= self.keep_last:
                os.remove(path)
            elif self.is_intact(path):
                kept += 1
            else:
                aside = f"{path}.corrupt"
                os.replace(path, aside)
                logger.warning("moved unreadable checkpoint %s aside to %s (%s); it does not count among the "
                               "TRAIN.CHECKPOINT_KEEP_LAST %d kept", path, aside, self.skipped[path], self.keep_last)

    def is_intact(self, path: str) -> bool:
        """True when ``path`` reads in full with intact CRC-32s (else its reason is in ``skipped``)."""
        if self._intact.get(path) == _stamp(path):
            return True
        try:
            _load_torch(path, mmap=True)
        except Exception as e:  # see _newest
            self.skipped[path] = "{} ({})".format(*_skip_reason(path, e))
            return False
        self._intact[path] = _stamp(path)
        return True

    def find_latest(self) -> Optional[str]:
        """The newest checkpoint whose archive index and pickle read, unreadable ones skipped with a
        warning. Cheap (the tensor data is not read); :meth:`load_latest` checks the data too."""
        found = self.peek_latest()
        return found[0] if found else None

    def peek_latest(self) -> Optional[Tuple[str, Dict[str, Any]]]:
        """(path, contents with the tensors mapped from disk, not read) of :meth:`find_latest`'s file."""
        return self._newest(lambda p: _load_torch(p, check_data=False, mmap=True))

    def load_latest(self) -> Optional[Tuple[str, Dict[str, Any]]]:
        """(path, contents) of the newest checkpoint that loads in full with intact data; one that
        does not is skipped with a warning and the next older one tried."""
        found = self._newest(self.load)
        if found:
            self._intact[found[0]] = _stamp(found[0])
        return found

    def _newest(self, read: Callable[[str], Any]) -> Optional[Tuple[str, Any]]:
        """The newest file ``read`` accepts; the others are recorded in ``skipped`` and warned about once."""
        self.skipped = {}
        files = self.list()
        for i, path in enumerate(reversed(files)):
            try:
                return path, read(path)
            except Exception as e:  # a damaged file shows up as ValueError, OSError, BadZipFile, ...
                kind, why = _skip_reason(path, e)
                self.skipped[path] = f"{kind} ({why})"
                _warn_once(path, f"skipping {kind} checkpoint {path} ({why}); "
                           + ("falling back to an older one" if i + 1 < len(files) else "no older one"))
        return None

    def describe_skipped(self) -> str:
        """'X was refused (...); Y was unreadable (...)': why the checkpoints found were not used."""
        return "; ".join(f"{p} was {why}" for p, why in self.skipped.items())

    def last_finite(self, before_iteration: int) -> Optional[Tuple[str, Dict[str, Any]]]:
        """(path, contents mapped from disk) of the newest checkpoint of a global iteration below
        ``before_iteration`` that reads intact, holds only finite weights and optimizer state, and
        recorded a finite loss; None when there is none."""
        for (_, iteration), path in reversed(self._indexed()):
            if iteration >= before_iteration:
                continue
            try:
                state = _load_torch(path, mmap=True)
            except Exception as e:  # see _newest
                _warn_once(path, "checkpoint {} is {} ({})".format(path, *_skip_reason(path, e)))
                continue
            loss = state.get("loss")
            if not non_finite(state) and (loss is None or math.isfinite(loss)):
                return path, state
        return None

    def recorded_losses(self, last: int = 6) -> List[Tuple[int, Optional[float]]]:
        """(global iteration, recorded loss or None) of the newest ``last`` checkpoints, oldest first
        (only the archive index and pickle are read)."""
        found = []
        for (_, iteration), path in self._indexed()[-last:]:
            try:
                found.append((iteration, _load_torch(path, check_data=False, mmap=True).get("loss")))
            except Exception:  # an unreadable file has nothing to show
                continue
        return found

    @staticmethod
    def load(path: str) -> Dict[str, Any]:
        """A checkpoint's contents (``torch.load`` with ``weights_only=True``, on the CPU), its data
        checked against the CRC-32s the archive records (torch.load does not check them)."""
        return _load_torch(path)


def _skip_reason(path: str, e: Exception) -> Tuple[str, str]:
    """('refused', why) or ('unreadable', 'Type: why'): why the checkpoint at ``path`` cannot be used."""
    if isinstance(e, UnsafeFileError):
        return "refused", first_sentence(str(e).replace(f"{path} was refused: ", ""))
    return "unreadable", f"{type(e).__name__}: {first_sentence(str(e).replace(f'{path}: ', ''))}"


def _warn_once(path: str, message: str) -> None:
    """Log ``message`` about ``path`` unless this process already warned about this file."""
    try:
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    except OSError:
        key = (os.path.abspath(path), -1, -1)
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning(message)


def _stamp(path: str) -> Tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _non_finite_tensor(t: Any) -> bool:
    return torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all())


def non_finite(state: Dict[str, Any], param_names: Optional[List[str]] = None) -> List[str]:
    """What holds NaN or inf in a training state: keys of ``state['model']``, and ``optimizer KEY of
    NAME`` for ``state['optimizer']`` (NAME from ``param_names``, the optimizer's parameters in order)."""
    bad = [k for k, t in (state.get("model") or {}).items() if _non_finite_tensor(t)]
    for i, entry in ((state.get("optimizer") or {}).get("state") or {}).items():
        name = param_names[i] if param_names and i < len(param_names) else f"parameter {i}"
        bad += [f"optimizer {k} of {name}" for k, t in entry.items() if _non_finite_tensor(t)]
    return bad


def capture_rng_state() -> Dict[str, Any]:
    """Python, numpy, torch and CUDA generator states as tensors, lists and numbers."""
    version, py_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: Dict[str, Any] = {
        "python": {"version": version, "state": list(py_state), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`capture_rng_state` captured (CUDA states only where a GPU is present)."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"][:torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)
