"""Where training starts: resume this run, continue or fine-tune from TRAIN.CHECKPOINT_FILE_PATH,
start from TIMESFORMER.PRETRAINED_MODEL or from scratch (``resume_or_load``)."""
import logging
from typing import Any, Callable, Dict, List, Optional

import torch
import yaml
from torch import nn

from timesformer.checkpoint import Checkpointer, restore_rng_state
from timesformer.checkpoint.sources import source_error
from timesformer.errors import LOAD_ERRORS, ConfigError
from timesformer.models import load_pretrained
from timesformer.utils.modules import unwrap_model

logger = logging.getLogger(__name__)

# Config keys that decide the shapes of a saved training state (model weights, optimizer groups, scaler).
STATE_KEYS = ("MODEL.", "TIMESFORMER.", "DATA.NUM_FRAMES", "DATA.TRAIN_CROP_SIZE", "SOLVER.OPTIMIZING_METHOD",
              "SOLVER.ZERO_WD_1D_PARAM", "TRAIN.MIXED_PRECISION")


def _fit_report(weights: Dict[str, torch.Tensor], own: Dict[str, torch.Tensor]) -> List[str]:
    """What keeps ``weights`` from loading strictly into a model with state dict ``own``."""
    wrong = [f"{k}: {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} in the model"
             for k, v in weights.items() if k in own and v.shape != own[k].shape]
    missing, unexpected = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    return wrong[:4] + ([f"missing {missing[:4]}"] if missing else []) + (
        [f"unexpected {unexpected[:4]}"] if unexpected else [])


def _restore_full(state: Dict[str, Any], path: str, model: nn.Module, optimizer, scaler,
                  scheduler_state_setter: Optional[Callable[[Any], None]]) -> Dict[str, Any]:
    """Model, optimizer, scaler, schedule and RNG from a full training state; the resume point.
    A state that does not fit raises a ValueError saying which part (the caller says what to do)."""
    weights = state.get("model", state.get("model_state"))
    if not isinstance(weights, dict):
        raise ValueError(f"{path}: not a training checkpoint (no 'model' or 'model_state' entry)")
    problems = _fit_report(weights, unwrap_model(model).state_dict())
    if problems:
        raise ValueError(f"{path} does not fit this model: {'; '.join(problems)}")
    unwrap_model(model).load_state_dict(weights)
    opt_state = state.get("optimizer", state.get("optimizer_state"))
    if optimizer is not None and opt_state is not None:
        try:
            optimizer.load_state_dict(opt_state)
        except ValueError as e:  # torch: "loaded state dict has a different number of parameter groups"
            raise ValueError(f"{path}: its optimizer state does not fit this optimizer ({e})") from e
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if scheduler_state_setter is not None and state.get("scheduler") is not None:
        scheduler_state_setter(state["scheduler"])
    if "rng" in state:
        restore_rng_state(state["rng"])
    if "model_state" in state:  # the reference's .pyth: 'epoch' is the last finished epoch (0-based)
        return {"epoch": int(state.get("epoch", -1)) + 1, "iteration": 0, "epoch_iteration": 0, "path": path}
    return {"epoch": int(state.get("epoch", 0)), "iteration": int(state.get("iteration", 0)),
            "epoch_iteration": int(state.get("epoch_iteration", 0)), "path": path,
            "rng_per_rank": state.get("rng_per_rank") or [], "hooks": state.get("hooks") or {}}


def _flat(tree: Any, prefix: str = "") -> Dict[str, Any]:
    """{'MODEL.NUM_CLASSES': 400, ...} from a nested mapping (a config or its YAML)."""
    if not isinstance(tree, dict):
        return {prefix[:-1]: tree}
    return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}


def config_changes(saved_yaml: Any, cfg) -> List[str]:
    """'KEY: A in the checkpoint, B now' for each of :data:`STATE_KEYS` that differs between the config
    a checkpoint stores (its YAML) and ``cfg``; [] when the checkpoint stores none."""
    try:
        saved = _flat(yaml.safe_load(saved_yaml)) if isinstance(saved_yaml, str) else {}
    except yaml.YAMLError:
        saved = {}
    now = {k: list(v) if isinstance(v, tuple) else v for k, v in _flat(cfg).items()}  # YAML has no tuples
    return [f"{k}: {saved[k]} in the checkpoint, {now[k]} now" for k in sorted(now)
            if k.startswith(STATE_KEYS) and k in saved and saved[k] != now[k]]


def _resume_error(e: ValueError, state: Dict[str, Any], path: str, cfg) -> ConfigError:
    """An auto-resume that does not fit this config: what changed, and the two ways on that work."""
    changes = config_changes(state.get("cfg"), cfg)
    changed = f" The run was saved with another config: {'; '.join(changes)}." if changes else ""
    return ConfigError(
        f"TRAIN.AUTO_RESUME: {e}.{changed} To continue that run, use the config it was started with; to start "
        f"a new run from its weights, give a new OUTPUT_DIR with TRAIN.CHECKPOINT_FILE_PATH {path} "
        "TRAIN.FINETUNE True (a fine-tune in this OUTPUT_DIR would resume this checkpoint again)")


def _configured(key: str, path: str, load: Callable[[], Any], hint: str = "") -> Any:
    """``load()``, its failure to use the file named by config key ``key`` raised as a ConfigError naming it."""
    try:
        return load()
    except LOAD_ERRORS as e:
        raise source_error(key, path, ValueError(f"{e}{hint}")) from e


def resume_or_load(cfg, checkpointer: Checkpointer, model: nn.Module, optimizer=None, scaler=None,
                   scheduler_state_setter: Optional[Callable[[Any], None]] = None) -> Dict[str, Any]:
    """Where training starts: the newest valid checkpoint of this run (TRAIN.AUTO_RESUME, also for a
    preempted fine-tune), else TRAIN.CHECKPOINT_FILE_PATH (weights only with TRAIN.FINETUNE, full
    state otherwise), else nothing. Checkpoints that are all unreadable are an error, not a fresh start;
    a file that cannot be used raises a ConfigError naming it. Returns {'epoch', 'iteration',
    'epoch_iteration', 'path', 'rng_per_rank', 'hooks'} of the resume point, or {} for a fresh start."""
    found = checkpointer.load_latest() if cfg.TRAIN.AUTO_RESUME else None
    if cfg.TRAIN.AUTO_RESUME and not found and checkpointer.skipped:
        raise ConfigError(f"TRAIN.AUTO_RESUME: no checkpoint in {checkpointer.dir} can be used, and starting "
                          "from scratch would silently drop the run's progress: "
                          + checkpointer.describe_skipped() + ". Restore them from a copy, move "
                          "them aside to start afresh, or set OUTPUT_DIR to a new folder")
    if found:
        latest, state = found
        logger.info("resuming from %s (TRAIN.AUTO_RESUME)", latest)
        try:
            return _restore_full(state, latest, model, optimizer, scaler, scheduler_state_setter)
        except ValueError as e:
            raise _resume_error(e, state, latest, cfg) from e
    path = cfg.TRAIN.CHECKPOINT_FILE_PATH
    nothing = (f"nothing to resume in {checkpointer.dir}" if cfg.TRAIN.AUTO_RESUME else "TRAIN.AUTO_RESUME is off")
    if checkpointer.skipped:
        nothing += f" ({checkpointer.describe_skipped()})"
    if not path:
        pretrained = cfg.TIMESFORMER.PRETRAINED_MODEL
        if pretrained:
            logger.info("%s: starting at epoch 1 from TIMESFORMER.PRETRAINED_MODEL = %s", nothing, pretrained)
        else:
            logger.info("%s: starting from scratch (epoch 1, random weights)", nothing)
        return {}
    if cfg.TRAIN.FINETUNE:
        logger.info("fine-tuning from the weights of %s (TRAIN.FINETUNE; %s)", path, nothing)
        _configured("TRAIN.CHECKPOINT_FILE_PATH", path, lambda: load_pretrained(model, path))
        return {}
    logger.info("continuing training from %s (TRAIN.CHECKPOINT_FILE_PATH; %s)", path, nothing)
    state = _configured("TRAIN.CHECKPOINT_FILE_PATH", path, lambda: Checkpointer.load(path))
    return _configured("TRAIN.CHECKPOINT_FILE_PATH", path, lambda: _restore_full(
        state, path, model, optimizer, scaler, scheduler_state_setter),
        hint=". Set TRAIN.FINETUNE True to start from its weights only (the head and embeddings adapted)")
