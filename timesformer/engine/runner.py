"""What one process of ``tools/run_net.py`` does: train when TRAIN.ENABLE, then test when TEST.ENABLE."""
import contextlib
import dataclasses
import functools
import logging
import math
import os
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from timesformer.checkpoint.hub import looks_like_path
from timesformer.config import check_each, report
from timesformer.config.stated import stated_keys
from timesformer.data import build_loader
from timesformer.errors import USER_ERRORS, ConfigError, JobFailed
from timesformer.utils import distributed as du
from timesformer.utils.compile import compile_model
from timesformer.utils.files import write_text
from timesformer.utils.logging import setup_logging
from timesformer.utils.strict_json import write_json

from .checks import check_config
from .evaluator import evaluate, evaluation_class_names, per_class_ap_table, per_class_table, summary
from .launch import check_env_world, launch
from .resume import Start, build_run_model, decide_start, settle_channel_order, stated_class_names, trained_iterations
from .trainer import Trainer, seed_all
from .writers import TEST_RECORDS, StatsWriter, WandbRun, describe_bad_files, gather_bad_files

logger = logging.getLogger(__name__)

# Datasets whose files are generated into DATA.PATH_TO_DATA_DIR instead of being read from it.
GENERATED_DATASETS = ("synthetic",)


def preflight(cfg) -> Start:
    """Fail in seconds, before any process or model starts (as detectron2's ``default_setup``), with
    every problem at once: every package's config checks (``check_config``), an OUTPUT_DIR that
    cannot be written, a missing weights file, missing data or DATA.PATH_PREFIX, nothing to test, a
    torchrun world other than NUM_GPUS x NUM_SHARDS.
    Writes nothing (OUTPUT_DIR is made by ``run``). Returns where the run's weights come from
    (``resume.decide_start``), to hand to ``settle_channel_order`` and ``run``."""
    starts: List[Start] = []
    check_each(lambda: check_config(cfg), lambda: _check_paths(cfg), lambda: _check_launcher(cfg),
               lambda: starts.append(_check_start(cfg)))
    return starts[0]


def _check_launcher(cfg) -> None:
    """Under torchrun / SLURM (env://): the processes started are the ones the config's batch assumes."""
    if du.env_launched():
        check_env_world(cfg, int(os.environ["WORLD_SIZE"]))


def _check_paths(cfg) -> None:
    """OUTPUT_DIR writable, TEST.CHECKPOINT_FILE_PATH there, the data folders there."""
    _check_output_dir(cfg.OUTPUT_DIR)
    ckpt = cfg.TEST.CHECKPOINT_FILE_PATH
    if cfg.TEST.ENABLE and ckpt and not os.path.exists(ckpt):
        report(f"TEST.CHECKPOINT_FILE_PATH = {ckpt!r} does not exist; give a checkpoint file "
               "(or '' to test the newest checkpoint in OUTPUT_DIR)")
    datasets = set()
    if cfg.TRAIN.ENABLE:
        datasets.add(cfg.TRAIN.DATASET)
    if cfg.TEST.ENABLE:
        datasets.add(cfg.TEST.DATASET)
    if datasets - set(GENERATED_DATASETS):
        path = cfg.DATA.PATH_TO_DATA_DIR
        if not path or not os.path.isdir(path):
            report(f"DATA.PATH_TO_DATA_DIR = {path!r} is not a folder; it must hold the "
                   f"annotation files of {sorted(datasets)} (see DATASET.md)")
        prefix = cfg.DATA.PATH_PREFIX
        if prefix and not os.path.isdir(prefix):
            report(f"DATA.PATH_PREFIX = {prefix!r} is not a folder; set it to the folder the "
                   "annotation files' video paths are relative to ('' if they are absolute)")


def _check_start(cfg) -> Start:
    """``decide_start``, and the weights file it names when that is a local path that is not there."""
    start = decide_start(cfg)
    if start.kind in ("finetune", "pretrained", "scratch") and cfg.TRAIN.ENABLE:  # nothing overwrites them
        _check_weights_path(cfg, "TIMESFORMER.PRETRAINED_MODEL")
        _check_weights_path(cfg, "TRAIN.CHECKPOINT_FILE_PATH")
    if start.kind == "test" and start.key == "TIMESFORMER.PRETRAINED_MODEL":
        _check_weights_path(cfg, "TIMESFORMER.PRETRAINED_MODEL")
    return start


def _check_weights_path(cfg, key: str) -> None:
    """A weights key naming a local file (by its suffix or a path prefix) that is not there: a problem."""
    section, name = key.split(".")
    value = cfg[section][name]
    if value and looks_like_path(value) and not os.path.exists(os.path.expanduser(value)):
        where = "" if os.path.isabs(os.path.expanduser(value)) else f" (relative to {os.getcwd()})"
        report(f"{key} = {value!r}: no such file{where}; check the path (MODEL_ZOO.md says where "
               "to get the released weights), or set it to ''")


def _output_dir_error(path: str, reason: str) -> str:
    return (f"OUTPUT_DIR = {path!r} is not writable ({reason}); pass a folder you can write to, "
            "e.g. OUTPUT_DIR ./output")


def _missing_folders(path: str) -> Tuple[List[str], str]:
    """The folders of ``path`` that do not exist yet (the deepest first) and the nearest one that does."""
    missing, folder = [], os.path.abspath(path)
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing, folder


def _check_output_dir(path: str) -> None:
    """OUTPUT_DIR, or the folder it would be made in, takes a file (written and removed at once)."""
    try:
        with tempfile.NamedTemporaryFile(dir=_missing_folders(path)[1], prefix=".write_test_"):
            pass
    except OSError as e:
        report(_output_dir_error(path, e.strerror or str(e)))


def make_output_dir(path: str) -> None:
    """Create OUTPUT_DIR (and its missing parents); when that fails, remove the folders this call made
    and raise a ConfigError naming it."""
    missing, _ = _missing_folders(path)
    try:
        os.makedirs(os.path.abspath(path), exist_ok=True)
    except OSError as e:
        for made in missing:  # the deepest first
            with contextlib.suppress(OSError):
                os.rmdir(made)
        raise ConfigError(_output_dir_error(path, e.strerror or str(e))) from e


def save_config(cfg) -> Optional[str]:
    """Write the merged config to OUTPUT_DIR/config.yaml (rank 0)."""
    if not du.is_main_process():
        return None
    path = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
    write_text(path, cfg.dump())
    return path


def check_finite_result(metrics: Dict[str, object], source: str, precision: str) -> None:
    """A test whose scores or loss are not finite is an error naming ``source``, never a result."""
    bad, loss = int(metrics.get("non_finite_videos", 0)), float(metrics["loss"])
    if bad or not math.isfinite(loss):
        amp = f" or the model overflows in TRAIN.MIXED_PRECISION {precision}" if precision != "none" else ""
        raise FloatingPointError(
            f"testing {source}: non-finite scores for {bad} of {metrics['num_videos']} videos, loss {loss}; "
            f"its weights hold NaN or inf (a damaged file, a run that diverged){amp}. No result was written: "
            "test another checkpoint" + (" or with TRAIN.MIXED_PRECISION none" if amp else ""))


def test(cfg, model: nn.Module, device: torch.device, writer=None, source: str = "the model",
         iteration: int = 0, stored_names: Optional[List[str]] = None,
         datasets: Iterable[str] = ()) -> Dict[str, object]:
    """Multi-view test of ``source`` (named in errors); writes predictions, confusion matrix (with
    DATA.MULTI_LABEL instead each class's average precision), test_results.json (strict JSON) and
    ``test_final`` (at ``iteration``: the training iterations behind the weights); non-finite scores
    or loss are an error instead. The classes are named as ``evaluation_class_names`` says
    (``stored_names``: the weights' own; ``datasets``: theirs)."""
    loader = build_loader(cfg, "test")
    names = evaluation_class_names(cfg, loader.dataset, stored_names, datasets)
    if du.is_main_process():  # a guess is said to be one, in the log as in test_results.json
        logger.log(logging.WARNING if names.source.startswith("guessed") else logging.INFO,
                   "test: class names: %s", names.source)
    metrics = evaluate(model, loader, device, cfg, "test", output_dir=cfg.OUTPUT_DIR, class_names=names.names)
    check_finite_result(metrics, source, cfg.TRAIN.MIXED_PRECISION)
    bad = gather_bad_files(loader.dataset)  # every rank's
    record = {"type": "test_final", "iter": iteration, **summary(metrics),
              "ensemble": cfg.TEST.ENSEMBLE_METHOD}
    if du.is_main_process():
        if "per_class_ap" in metrics:  # multi-label: every class's AP (None: no positive video)
            record["per_class_ap"] = metrics["per_class_ap"]
        if writer is not None:
            writer.write(record)
        table = per_class_ap_table if "per_class_ap" in metrics else per_class_table
        result = {**record, "class_names_source": names.source, "per_class": table(metrics, names.names),
                  "bad_files": [dataclasses.asdict(b) for b in bad]}
        write_json(os.path.join(cfg.OUTPUT_DIR, "test_results.json"), result)
        if bad:  # "skipped": unreadable, its views left out; "truncated": its decodable frames used
            logger.warning("test: %d bad files: %s", len(bad), describe_bad_files(bad))
    return metrics


def run(cfg, device: torch.device, start: Optional[Start] = None) -> None:
    """Train and/or test in this process (called by ``launch`` in every process), from ``start`` (what
    ``preflight`` decided; decided here when None); an explained error (``USER_ERRORS``) is also
    written to log.txt before it propagates."""
    make_output_dir(cfg.OUTPUT_DIR)
    setup_logging(cfg.OUTPUT_DIR)
    wandb_run, done = None, False
    try:
        wandb_run = WandbRun.open(cfg)  # rank 0 with LOG.WANDB, else None
        _train_and_test(cfg, device, start or decide_start(cfg), wandb_run)
        done = True
    except USER_ERRORS as e:
        if du.is_main_process():
            logger.error("%s", e)
        raise
    finally:
        if wandb_run is not None:
            wandb_run.close(exit_code=0 if done else 1)


def launch_run(cfg, cfg_path: Optional[str] = None, opts: Sequence[str] = ()) -> None:
    """Start a run as the tools do (run_net, a job of submit.py, ablate_attention): ``preflight``, the
    input channel order the starting weights were trained on unless the config file ``cfg_path`` or
    ``opts`` state it, then :func:`run` on every process of the job. A ConfigError found while
    running (a checkpoint that does not fit) is a failed run: :class:`JobFailed`."""
    start = preflight(cfg)
    stated = "DATA.INPUT_CHANNEL_ORDER" in stated_keys(cfg_path, opts)
    cfg = settle_channel_order(cfg, stated, start)
    try:
        launch(functools.partial(run, start=start), cfg)
    except ConfigError as e:
        raise JobFailed(str(e)) from e


def _train_and_test(cfg, device: torch.device, start: Start, wandb_run: Optional[WandbRun] = None) -> None:
    save_config(cfg)
    logger.info("rank %d/%d on %s", du.get_rank(), du.get_world_size(), device)
    seed_all(cfg.RNG_SEED)
    model = build_run_model(cfg, start)
    iteration = 0
    if cfg.TRAIN.ENABLE:
        trainer = Trainer(cfg, device, model, wandb_run)
        trainer.resume(start)
        trainer.train()
        model, iteration = trainer.model_for_eval(), trainer.iter
        ck = trainer.checkpointer  # the last save holds these weights
        source = ck.last_saved or ck.find_latest() or cfg.OUTPUT_DIR
        stored, datasets = trainer.class_names, {cfg.TRAIN.DATASET}
    else:
        source = start.source
        model = model.to(device)
        if cfg.TRAIN.COMPILE:
            model = compile_model(model)
        stored, datasets = None, set()
        if cfg.TEST.ENABLE:
            iteration = trained_iterations(start)
            stored, datasets = stated_class_names(start)
    if cfg.TEST.ENABLE:
        # a test at iteration N supersedes the test results logged at N or later (a re-test)
        writer = StatsWriter(cfg.OUTPUT_DIR, purge_step=iteration, kinds=TEST_RECORDS,
                             tensorboard=os.path.join("tensorboard", "test"), wandb=wandb_run)
        try:
            test(cfg, model, device, writer, source, iteration, stored, datasets)
        finally:
            writer.close()
