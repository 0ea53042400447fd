"""Training checkpoints: atomic saves, the newest valid one found after a preemption, RNG states.

Files are ``<OUTPUT_DIR>/checkpoints/checkpoint_epoch_EEEEE_iter_IIIIIIIII.pyth``. A save writes a
temporary file, fsyncs it and renames it over the final name, so a kill during a save leaves the
previous checkpoints intact. A file that is nevertheless unreadable (copied half-way, disk full,
blocks lost in a crash) is skipped with a warning, falling back to the next older one:
:meth:`Checkpointer.load_latest`, which resuming uses, reads it in full and checks its CRC-32s;
:meth:`Checkpointer.find_latest` only its index.
"""
import glob
import logging
import os
import random
import re
import zipfile
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .formats import atomic_torch_save

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^checkpoint_epoch_(\d+)_iter_(\d+)\.pyth$")


class Checkpointer:
    """Saves, lists, prunes and loads the training checkpoints of one run.

    ``output_dir`` is the run's OUTPUT_DIR; files go to its ``checkpoints`` folder (a path that
    already ends in ``checkpoints`` is used as is). ``keep_last`` newest files are kept (0 = all).
    """

    def __init__(self, output_dir: str, keep_last: int = 3):
        self.dir = output_dir if os.path.basename(os.path.normpath(output_dir)) == "checkpoints" \
            else os.path.join(output_dir, "checkpoints")
        self.keep_last = keep_last

    def path_for(self, epoch: int, iteration: int) -> str:
        """File name of the checkpoint at (epoch, global iteration)."""
        return os.path.join(self.dir, f"checkpoint_epoch_{epoch:05d}_iter_{iteration:09d}.pyth")

    def list(self) -> List[str]:
        """Checkpoint files, oldest first (by epoch, then iteration)."""
        found = []
        for path in glob.glob(os.path.join(self.dir, "checkpoint_epoch_*.pyth")):
            m = _NAME.match(os.path.basename(path))
            if m:
                found.append(((int(m.group(1)), int(m.group(2))), path))
        return [p for _, p in sorted(found)]

    def save(self, state: Dict[str, Any], epoch: int, iteration: int) -> str:
        """Write ``state`` atomically and prune old files; returns the path.

        Convention: ``state['epoch']`` is the epoch to run next (0-based) and
        ``state['epoch_iteration']`` the iterations of it already done (0 at an epoch boundary).
        """
        os.makedirs(self.dir, exist_ok=True)
        path = self.path_for(epoch, iteration)
        atomic_torch_save(state, path)
        self.prune()
        logger.info("saved checkpoint %s", path)
        return path

    def prune(self) -> None:
        """Delete all but the newest ``keep_last`` checkpoints, and temporary files left by a killed save."""
        for tmp in glob.glob(os.path.join(self.dir, "checkpoint_epoch_*.pyth.tmp*")):
            os.remove(tmp)  # saves are synchronous: no save of this run is in progress now
        files = self.list()
        if self.keep_last > 0:
            for path in files[:-self.keep_last]:
                os.remove(path)

    def find_latest(self) -> Optional[str]:
        """The newest checkpoint whose archive index and pickle read, unreadable ones skipped with a
        warning. Cheap (the tensor data is not read); :meth:`load_latest` checks the data too."""
        found = self._newest(lambda p: torch.load(p, map_location="cpu", weights_only=True, mmap=True))
        return found[0] if found else None

    def load_latest(self) -> Optional[Tuple[str, Dict[str, Any]]]:
        """(path, contents) of the newest checkpoint that loads in full with intact data; one that
        does not is skipped with a warning and the next older one tried."""
        return self._newest(self.load)

    def _newest(self, read: Callable[[str], Any]) -> Optional[Tuple[str, Any]]:
        for path in reversed(self.list()):
            try:
                return path, read(path)
            except Exception as e:  # a damaged file shows up as RuntimeError, EOFError, BadZipFile, ...
                logger.warning("skipping unreadable checkpoint %s (%s: %s); falling back to an older one",
                               path, type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return None

    @staticmethod
    def load(path: str) -> Dict[str, Any]:
        """A checkpoint's contents (``torch.load`` with ``weights_only=True``, on the CPU), its data
        checked against the CRC-32s the archive records (torch.load does not check them)."""
        _check_crc(path)
        return torch.load(path, map_location="cpu", weights_only=True)


def _check_crc(path: str) -> None:
    """Raise ``zipfile.BadZipFile`` naming the first archive member whose bytes do not match their
    recorded CRC-32 (e.g. blocks lost in a crash); legacy non-zip files are left to torch.load."""
    if not zipfile.is_zipfile(path):
        return
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.CRC == 0 and info.file_size:  # written with torch's CRC-32 option off
                continue
            with archive.open(info) as f:
                while f.read(1 << 24):  # zipfile raises BadZipFile at the end on a CRC mismatch
                    pass


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


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside DDP (``.module``) and torch.compile (``._orig_mod``) wrappers."""
    for attr in ("module", "_orig_mod", "module"):
        model = getattr(model, attr, model)
    return model


def _restore_full(state: Dict[str, Any], path: str, model: nn.Module, optimizer, scaler,
                  scheduler_state_setter: Optional[Callable[[Any], None]]) -> Dict[str, Any]:
    """Model, optimizer, scaler, schedule and RNG from a full training state; the resume point."""
    weights = state.get("model", state.get("model_state"))
    if weights is None:
        raise ValueError(f"{path}: not a training checkpoint (no 'model' or 'model_state' entry)")
    hint = ("Resume with the config the run was started with, or set TRAIN.FINETUNE True to load "
            "the weights only (adapting the head and embeddings)")
    try:
        result = _unwrap(model).load_state_dict(weights, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"{path} does not fit this model: {e}. {hint}") from e
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{path} does not fit this model: missing {result.missing_keys[:8]}, unexpected "
                         f"{result.unexpected_keys[:8]}. {hint}")
    opt_state = state.get("optimizer", state.get("optimizer_state"))
    if optimizer is not None and opt_state is not None:
        optimizer.load_state_dict(opt_state)
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if scheduler_state_setter is not None and state.get("scheduler") is not None:
        scheduler_state_setter(state["scheduler"])
    if "rng" in state:
        restore_rng_state(state["rng"])
    if "model_state" in state:  # the reference's .pyth: 'epoch' is the last finished epoch (0-based)
        return {"epoch": int(state.get("epoch", -1)) + 1, "iteration": 0, "epoch_iteration": 0, "path": path}
    return {"epoch": int(state.get("epoch", 0)), "iteration": int(state.get("iteration", 0)),
            "epoch_iteration": int(state.get("epoch_iteration", 0)), "path": path}


def resume_or_load(cfg, checkpointer: Checkpointer, model: nn.Module, optimizer=None, scaler=None,
                   scheduler_state_setter: Optional[Callable[[Any], None]] = None) -> Dict[str, Any]:
    """Where training starts: the newest valid checkpoint of this run (TRAIN.AUTO_RESUME, also for a
    preempted fine-tune), else TRAIN.CHECKPOINT_FILE_PATH (weights only with TRAIN.FINETUNE, full
    state otherwise), else nothing. Returns {'epoch', 'iteration', 'epoch_iteration', 'path'} of the
    resume point, or {} for a fresh start."""
    found = checkpointer.load_latest() if cfg.TRAIN.AUTO_RESUME else None
    if found:
        latest, state = found
        logger.info("resuming from %s (TRAIN.AUTO_RESUME)", latest)
        return _restore_full(state, latest, model, optimizer, scaler, scheduler_state_setter)
    path = cfg.TRAIN.CHECKPOINT_FILE_PATH
    if not path:
        return {}
    if cfg.TRAIN.FINETUNE:
        from .loader import load_pretrained

        logger.info("fine-tuning from the weights of %s (TRAIN.FINETUNE)", path)
        load_pretrained(model, path)
        return {}
    logger.info("continuing training from %s (TRAIN.CHECKPOINT_FILE_PATH)", path)
    return _restore_full(Checkpointer.load(path), path, model, optimizer, scaler, scheduler_state_setter)
