"""Where a run's weights come from, decided in one place and read once.

``decide_start`` (run by ``preflight`` in the launching process) picks the :class:`Start`: this run's
newest checkpoint (``resume``, TRAIN.AUTO_RESUME), TRAIN.CHECKPOINT_FILE_PATH as a full training
state (``checkpoint``) or as weights only (``finetune``, TRAIN.FINETUNE), TIMESFORMER.PRETRAINED_MODEL
(``pretrained``), nothing (``scratch``), or in a test-only run the weights to test (``test``:
TEST.CHECKPOINT_FILE_PATH, else OUTPUT_DIR's newest checkpoint, else TIMESFORMER.PRETRAINED_MODEL).
Finding the newest checkpoint reads only archive indexes. What the chosen file says about itself
(the input channel order, the training iteration) is read once, with its tensors mapped and not
read (:func:`read_header`), and travels with the Start to every process; each process then loads
the weights once, in full and checked (``build_run_model``, ``resume_or_load``).
"""
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import torch
import yaml
from torch import nn

from timesformer.checkpoint import Checkpointer, Weights, read_source, restore_rng_state
from timesformer.checkpoint.channels import apply_channel_order
from timesformer.checkpoint.formats import weights_of
from timesformer.checkpoint.hub import is_timm_name
from timesformer.checkpoint.sources import source_error
from timesformer.config.stated import stored_datasets
from timesformer.errors import LOAD_ERRORS, ConfigError, FetchError
from timesformer.models import TimeSformer, build_model, load_pretrained, model_kwargs_from_cfg
from timesformer.utils.modules import unwrap_model

logger = logging.getLogger(__name__)

KINDS = ("resume", "checkpoint", "finetune", "pretrained", "scratch", "test")


@dataclass
class Header:
    """What a weights source says about itself: the input channel order, the training iteration, the
    class names and the datasets its stored config names (TRAIN.DATASET, TEST.DATASET)."""

    channel_order: Optional[str]
    channel_order_note: str
    source: str
    iteration: int = 0
    class_names: Optional[List[str]] = None
    datasets: Set[str] = field(default_factory=set)


@dataclass
class Start:
    """The weights a run starts from (``kind``, one of KINDS), the ``source`` and the config ``key``
    naming it ("OUTPUT_DIR" for the run's own checkpoint); ``skipped``: why checkpoints found in
    OUTPUT_DIR could not be used; ``header``: once read, what the source says about itself."""

    kind: str
    source: str = ""
    key: str = ""
    skipped: str = ""
    header: Optional[Header] = None


def _header(w: Weights) -> Header:
    return Header(w.channel_order, w.channel_order_note, w.source, w.iteration, w.class_names,
                  stored_datasets(w.cfg, w.source))


def _test_start(cfg, checkpointer: Checkpointer) -> Start:
    """What a test-only run evaluates: TEST.CHECKPOINT_FILE_PATH, else the newest checkpoint in
    OUTPUT_DIR, else TIMESFORMER.PRETRAINED_MODEL; a ConfigError when there is nothing."""
    if cfg.TEST.CHECKPOINT_FILE_PATH:
        return Start("test", cfg.TEST.CHECKPOINT_FILE_PATH, "TEST.CHECKPOINT_FILE_PATH")
    latest = checkpointer.peek_latest()
    if latest:
        return Start("test", latest[0], "OUTPUT_DIR", header=_header(weights_of(latest[1], latest[0])))
    if cfg.TIMESFORMER.PRETRAINED_MODEL:
        return Start("test", cfg.TIMESFORMER.PRETRAINED_MODEL, "TIMESFORMER.PRETRAINED_MODEL")
    found = (f"OUTPUT_DIR's checkpoints cannot be used ({checkpointer.describe_skipped()})" if checkpointer.skipped
             else f"OUTPUT_DIR has no checkpoint ({checkpointer.dir})")
    raise ConfigError(f"nothing to test: TEST.CHECKPOINT_FILE_PATH is empty, {found} and "
                      "TIMESFORMER.PRETRAINED_MODEL is empty; set one")


def decide_start(cfg, checkpointer: Optional[Checkpointer] = None) -> Start:
    """The one decision of where this run's weights come from (see the module docstring). Reads the
    archive indexes of OUTPUT_DIR's checkpoints, newest first, until one reads (a damaged one is
    skipped with one warning)."""
    checkpointer = checkpointer or Checkpointer(cfg.OUTPUT_DIR, 1)
    if not cfg.TRAIN.ENABLE:
        return _test_start(cfg, checkpointer) if cfg.TEST.ENABLE else Start("scratch")
    latest = checkpointer.peek_latest() if cfg.TRAIN.AUTO_RESUME else None
    skipped = checkpointer.describe_skipped()
    if latest:
        return Start("resume", latest[0], "OUTPUT_DIR", skipped, _header(weights_of(latest[1], latest[0])))
    if cfg.TRAIN.CHECKPOINT_FILE_PATH:
        kind = "finetune" if cfg.TRAIN.FINETUNE else "checkpoint"
        return Start(kind, cfg.TRAIN.CHECKPOINT_FILE_PATH, "TRAIN.CHECKPOINT_FILE_PATH", skipped)
    if cfg.TIMESFORMER.PRETRAINED_MODEL:
        return Start("pretrained", cfg.TIMESFORMER.PRETRAINED_MODEL, "TIMESFORMER.PRETRAINED_MODEL", skipped)
    return Start("scratch", skipped=skipped)


def read_header(start: Start) -> Header:
    """What ``start.source`` says about itself, read once (its tensors mapped from disk, not read)."""
    if start.header is None:
        start.header = _header(read_source(start.source, lazy=True))
    return start.header


def trained_iterations(start: Start) -> int:
    """The training iterations behind a test's weights (the step its results are logged at): a
    training checkpoint's ``iteration``, 0 for other weights (and for ones that do not read: loading
    them reports why)."""
    if start.header is None and not os.path.isfile(start.source):
        return 0  # a hub name or a folder: no training iteration recorded
    try:
        return read_header(start).iteration
    except LOAD_ERRORS:
        return 0


def stated_class_names(start: Start) -> Tuple[Optional[List[str]], Set[str]]:
    """The class names the weights of ``start`` store and the datasets their config names (None and
    an empty set for a timm name, or weights that do not read: loading them says why)."""
    if not start.source or (start.header is None and is_timm_name(start.source)):
        return None, set()
    try:
        header = read_header(start)
    except LOAD_ERRORS:
        return None, set()
    return header.class_names, header.datasets


def settle_channel_order(cfg, stated: bool, start: Optional[Start] = None):
    """``cfg`` with DATA.INPUT_CHANNEL_ORDER set to what the run's starting weights were trained on
    (BGR for a released SSv2 checkpoint), unless the user ``stated`` it; a timm name or an image ViT
    states nothing and keeps the config's order (RGB by default)."""
    start = start or decide_start(cfg)
    if not start.source or is_timm_name(start.source):
        return cfg
    try:
        h = read_header(start)
    except ValueError as e:
        # A damaged file: loading it in the run stops with the reason (a resume falls back to an
        # older checkpoint and says so); until then the order is the config's.
        logger.warning("could not read %s to learn its input channel order: %s", start.source, e)
        return cfg
    except (FileNotFoundError, FetchError) as e:
        if start.kind == "resume":
            logger.warning("could not read %s to learn its input channel order: %s", start.source, e)
            return cfg
        raise ConfigError(f"cannot read the weights {start.source}: {e}") from e
    return apply_channel_order(cfg, h.channel_order, h.channel_order_note, h.source, stated)


def build_run_model(cfg, start: Start) -> nn.Module:
    """The model of this run: TIMESFORMER.PRETRAINED_MODEL is loaded only when nothing overwrites it;
    a test-only run loads its weights strictly (a head of another class count is an error)."""
    if start.kind in ("resume", "checkpoint") or not cfg.TRAIN.ENABLE:
        model = TimeSformer(**model_kwargs_from_cfg(cfg))  # random; every weight comes from the source
    else:
        try:
            model = build_model(cfg)
        except LOAD_ERRORS as e:
            raise source_error("TIMESFORMER.PRETRAINED_MODEL", cfg.TIMESFORMER.PRETRAINED_MODEL, e) from e
    if start.kind == "test":
        logger.info("testing weights from %s (%s)", start.source, start.key)
        try:
            load_pretrained(model, start.source, strict=True)  # a test never runs on half-initialised weights
        except LOAD_ERRORS as e:
            raise ConfigError(f"cannot test {start.source} ({start.key}): {e}") from e
    return model


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
            "clips_per_iteration": float(state.get("clips_per_iteration", 0)),
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
                   scheduler_state_setter: Optional[Callable[[Any], None]] = None,
                   start: Optional[Start] = None) -> Dict[str, Any]:
    """Load what training starts from, as ``start`` (default: ``decide_start``) says: the newest valid
    checkpoint of this run (TRAIN.AUTO_RESUME, also for a preempted fine-tune; one whose data fail
    their check falls back to an older one), else TRAIN.CHECKPOINT_FILE_PATH (weights only with
    TRAIN.FINETUNE, full state otherwise), else nothing. Checkpoints that are all unreadable are an
    error, not a fresh start; a file that cannot be used raises a ConfigError naming it. Returns
    {'epoch', 'iteration', 'epoch_iteration', 'clips_per_iteration', 'path', 'rng_per_rank', 'hooks'} of the
    resume point (``clips_per_iteration`` 0 when the checkpoint does not say),
    or {} for a fresh start."""
    start = start or decide_start(cfg, checkpointer)
    found = checkpointer.load_latest() if start.kind == "resume" else None
    skipped = checkpointer.describe_skipped() if start.kind == "resume" else start.skipped
    if cfg.TRAIN.AUTO_RESUME and not found and skipped:
        raise ConfigError(f"TRAIN.AUTO_RESUME: no checkpoint in {checkpointer.dir} can be used, and starting "
                          "from scratch would silently drop the run's progress: "
                          + skipped + ". Restore them from a copy, move "
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
    if skipped:
        nothing += f" ({skipped})"
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
