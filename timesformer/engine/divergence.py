"""A run that blows up: no checkpoint of non-finite state, and an error that says where to restart.

The rule. A checkpoint is not written when any weight, buffer or optimizer state is NaN or inf, or
when the *recent loss* is: the mean, over all processes and over the iterations (micro-batches) of
the gradient-accumulation group, of the loss that produced the step being saved. (A non-finite loss
at any single iteration already stops the run before its backward pass, so no step, and no
checkpoint, ever follows one.) Each checkpoint records that loss as ``loss``.

Finite is not enough: a run diverging with a too-high learning rate saves huge but finite weights
just before its loss becomes NaN, and resuming from them fails again even with a lower rate. The
error therefore names, as the restart point, the newest checkpoint whose weights were followed by
finite losses (never the one whose weights gave the failure), lists the losses the newest
checkpoints recorded so a blow-up shows as a jump, and says to restart in a new OUTPUT_DIR: rerunning
the same folder resumes from its newest checkpoint.
"""
import math
from typing import Optional

import torch

from timesformer.checkpoint.checkpointer import non_finite
from timesformer.utils import distributed as du


def _fix(cfg) -> str:
    return (f"Lower SOLVER.BASE_LR (now {cfg.SOLVER.BASE_LR:g}), add warm-up (SOLVER.WARMUP_EPOCHS) or "
            "gradient clipping (SOLVER.CLIP_GRAD_NORM), and restart in a new OUTPUT_DIR")


def diverged(trainer, what: str, weights_from: int) -> FloatingPointError:
    """The error of a blown-up run: ``what`` happened, to the weights the optimizer step at global
    iteration ``weights_from`` produced; the last checkpoint before them to restart from, and how.
    Rank 0 reads the checkpoints; the other ranks' errors point to it."""
    cfg, ck = trainer.cfg, trainer.checkpointer
    if not du.is_main_process():
        return FloatingPointError(f"{what}. {_fix(cfg)} (rank 0's error names the checkpoint to restart from)")
    found = ck.last_finite(before_iteration=weights_from)
    if found is None:
        text = (f"{what}. OUTPUT_DIR {cfg.OUTPUT_DIR} holds no checkpoint to restart from that was followed by "
                f"finite losses: {_fix(cfg)} from scratch (OUTPUT_DIR <a new folder>)")
    else:
        path, state = found
        text = (f"{what}. {_fix(cfg)}: from the last checkpoint whose weights gave finite losses, {path} "
                f"(iteration {state.get('iteration', '?')}), with TRAIN.CHECKPOINT_FILE_PATH {path} OUTPUT_DIR "
                "<a new folder>, or from scratch with OUTPUT_DIR <a new folder>")
    losses = ck.recorded_losses()
    if losses:
        shown = ", ".join(f"{it}: {loss:.2g}" if loss is not None else f"{it}: ?" for it, loss in losses)
        text += (f". The checkpoints' recorded losses: iteration {shown}; one far above the others was "
                 "already diverging: restart from an earlier one or from scratch")
    newest = ck.find_latest()
    if newest and (found is None or newest != found[0]):
        text += f" (rerunning with OUTPUT_DIR {cfg.OUTPUT_DIR} would resume from {newest}, whose weights led here)"
    return FloatingPointError(text)


def check_saveable(trainer, iteration: int, loss: Optional[float]) -> None:
    """Raise :func:`diverged` on every rank when the state about to be saved as global iteration
    ``iteration`` holds NaN/inf, or its recent ``loss`` (None: no step since the start) is not finite."""
    by_id = {id(p): n for n, p in trainer.model.named_parameters()}
    order = [by_id.get(id(p), "?") for g in trainer.optimizer.param_groups for p in g["params"]]  # state_dict's
    bad = non_finite({"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict()}, order)
    kinds = [k for k, hit in (("the recent loss", loss is not None and not math.isfinite(loss)),
                              ("the weights", any(not b.startswith("optimizer ") for b in bad)),
                              ("the optimizer state", any(b.startswith("optimizer ") for b in bad))) if hit]
    if float(du.all_reduce_sum(torch.tensor(float(len(kinds)), device=trainer.device))) == 0:
        return
    shown = (f" ({len(bad)} tensors: {', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})" if bad
             else f" ({loss})" if kinds else "")
    raise diverged(trainer, f"not saving the checkpoint of iteration {iteration}: non-finite values in "
                   f"{' and '.join(kinds) or 'another process'}{shown}", iteration)
