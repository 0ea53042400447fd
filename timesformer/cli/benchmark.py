r"""Training or inference throughput of a config's model: clips/s, MFU, peak memory, ratio to a baseline.

    python tools/benchmark.py --cfg configs/Kinetics/TimeSformer_divST_8x32_224.yaml --mode train \
        --batch 16 --compile --compare-hf
    python tools/benchmark.py --cfg CONFIG --mode infer --batch 32 --compare-hf
    python tools/benchmark.py --mode train --device cpu --batch 2 --peak-tflops 1 \
        MODEL.EMBED_DIM 32 MODEL.DEPTH 2 MODEL.NUM_HEADS 2 DATA.NUM_FRAMES 4 DATA.TRAIN_CROP_SIZE 64

``--compare-hf`` also times transformers' ``TimesformerForVideoClassification`` (random weights, the
same shapes; eager, default AdamW) on the same device in the same run and prints the ratio. Our model
trains with fused AdamW (``--no-fused-adamw`` to turn it off). FLOPs per clip come from
``timesformer.models.complexity.count_flops`` (training = 3 forward passes; MFU counts a multiply-add as
2 FLOPs against the card's dense bf16 peak, or ``--peak-tflops``). KEY VALUE pairs override the config.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Dict, List, Optional

from timesformer.cli import common
from timesformer.config.defaults import PRECISIONS
from timesformer.errors import UsageError
from timesformer.utils.strict_json import dumps

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("benchmark")


def build_parser() -> argparse.ArgumentParser:
    """--cfg, what to time and how, trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    common.add_cfg(p, what="config (default: the built-in defaults)")
    p.add_argument("--mode", choices=["train", "infer"], default="train",
                   help="train: forward, backward and optimizer step; infer: forward under inference_mode")
    p.add_argument("--batch", type=int, default=0, help="clips per step (default: what one process runs, "
                   "TRAIN.BATCH_SIZE up to TRAIN.MAX_BATCH_PER_PROCESS, or TEST.BATCH_SIZE)")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    p.add_argument("--compile", action="store_true", help="torch.compile our model")
    p.add_argument("--compile-mode", default=None, help="torch.compile mode (e.g. reduce-overhead)")
    p.add_argument("--compare-hf", action="store_true", help="also time transformers' model as the baseline")
    p.add_argument("--activation-checkpointing", action="store_true", help="recompute blocks in backward")
    p.add_argument("--no-fused-adamw", action="store_true", help="torch's default AdamW for our model")
    p.add_argument("--amp", choices=list(PRECISIONS), default=None,
                   help="autocast dtype (default bf16 on CUDA, none on CPU)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--peak-tflops", type=float, default=None, help="peak for MFU (default: by GPU name)")
    p.add_argument("--no-flops", action="store_true", help="skip counting FLOPs (no MFU)")
    p.add_argument("--json", default=None, help="append one JSON line per measurement to this file")
    common.add_overrides(p)
    return p


def _problem(args: argparse.Namespace) -> Optional[str]:
    if args.steps < 1 or args.warmup < 0 or args.batch < 0:
        return (f"need --steps >= 1, --warmup >= 0, --batch >= 0 (0 = the config's); got --steps "
                f"{args.steps} --warmup {args.warmup} --batch {args.batch}")
    return None


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The arguments of one measurement (also one line of a benchmark_table commands file)."""
    p = build_parser()
    args = common.parse(p, argv)
    problem = _problem(args)
    if problem:
        p.error(problem)
    return args


def model_kwargs(args: argparse.Namespace) -> Dict:
    """Our model's keyword arguments from the config (random initialisation: no pretrained weights)."""
    from timesformer.config import load_config
    from timesformer.data import eval_batch, train_batch
    from timesformer.engine import check_config
    from timesformer.models import model_kwargs_from_cfg

    cfg = check_config(load_config(args.cfg, args.opts))  # validated; no --cfg: the defaults
    kwargs = model_kwargs_from_cfg(cfg)
    batch = args.batch or (train_batch(cfg, 1).per_process if args.mode == "train" else eval_batch(cfg, 1))
    return dict(kwargs, batch=batch)


def count_clip_flops(model: torch.nn.Module, clip: torch.Tensor) -> Optional[float]:
    """Forward FLOPs of one clip (fvcore convention), or None when fvcore is missing."""
    try:
        from timesformer.models.complexity import count_flops
    except ImportError as e:
        logger.warning("no FLOP count (%s): MFU not reported", e)
        return None
    return float(count_flops(model, clip[:1]))


def _free(device: torch.device) -> None:
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_one(name: str, model: torch.nn.Module, clip: torch.Tensor, args: argparse.Namespace,
            **kw) -> Dict:
    """Measure one model; an out-of-memory error becomes a row saying so instead of a crash."""
    import torch

    from timesformer import benchmark as bench

    try:
        return bench.measure(name, model, clip, args.mode, steps=args.steps, warmup=args.warmup, **kw).as_dict()
    except torch.OutOfMemoryError as e:
        logger.warning("%s ran out of memory: %s", name, str(e).splitlines()[0])
        return dict(name=name, mode=args.mode, batch=clip.shape[0], error="out of memory")


def parity(model: torch.nn.Module, eager: torch.nn.Module, clip: torch.Tensor,
           amp: str) -> Dict[str, float]:
    """Max |difference| of the timed model's logits from the eager SDPA and explicit-softmax paths."""
    import torch

    from timesformer.utils.amp import autocast

    model.eval(), eager.eval()
    with torch.inference_mode(), autocast(clip.device, amp):
        out = model(clip)[:2].float()  # the timed batch size: a compiled model does not recompile
        ref = eager(clip[:2]).float()
        explicit = eager(clip[:2], return_attention=True)[0].float()
    scale = explicit.abs().max().item()
    return dict(max_abs_diff_vs_eager=(out - ref).abs().max().item(),
                max_abs_diff_vs_explicit=(out - explicit).abs().max().item(), logit_scale=scale)


def run(args: argparse.Namespace) -> List[Dict]:
    """Every measurement the arguments ask for, as dicts (also printed)."""
    device = common.device(args.device)  # before the library is imported: no GPU answers at once
    import torch

    from timesformer import benchmark as bench
    from timesformer.models import TimeSformer
    from timesformer.utils.amp import autocast_dtype
    from timesformer.utils.compile import compile_model

    kwargs = model_kwargs(args)  # the config first: a bad key is reported before the models are built
    amp = args.amp or ("bf16" if device.type == "cuda" else "none")
    batch = kwargs.pop("batch")
    peak = bench.peak_tflops(device, args.peak_tflops)
    t, size = kwargs["num_frames"], kwargs["img_size"]
    clip = torch.randn(batch, 3, t, size, size, device=device)
    model = TimeSformer(**kwargs).to(device)
    flops = None if args.no_flops else count_clip_flops(model, clip)
    shared = dict(amp=amp, flops_per_clip=flops, peak=peak, num_classes=kwargs["num_classes"])
    rows = []
    if args.compare_hf:
        if kwargs["attention_type"] in bench.HF_SCHEMES:
            hf = bench.build_hf_baseline(kwargs).to(device)
            rows.append(run_one("transformers (eager)", hf, clip.transpose(1, 2).contiguous(), args, **shared))
            del hf
            _free(device)
        else:
            print(f"transformers has no {kwargs['attention_type']} attention: no baseline to compare with")
    if args.activation_checkpointing:
        model.model.set_grad_checkpointing(True)
    timed, name = model, "timesformer"
    if args.compile:
        timed = compile_model(model, mode=args.compile_mode)
        name = f"timesformer (compiled{', ' + args.compile_mode if args.compile_mode else ''})"
    name += " +ckpt" if args.activation_checkpointing else ""
    row = run_one(name, timed, clip, args, fused_optimizer=device.type == "cuda" and not args.no_fused_adamw,
                  **shared)
    if args.mode == "infer" and "error" not in row:
        row.update(parity(timed, model, clip, amp))
    rows.append(row)
    meta = dict(device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                torch=torch.__version__, amp=str(autocast_dtype(amp)), cfg=args.cfg, opts=args.opts,
                scheme=kwargs["attention_type"], frames=t, size=size, compile=args.compile,
                activation_checkpointing=args.activation_checkpointing)
    base = rows[0] if args.compare_hf and len(rows) == 2 and "error" not in rows[0] else None
    for r in rows:
        r.update(meta)
        if base is not None and r is not base and "error" not in r:
            r["ratio"] = r["clips_per_s"] / base["clips_per_s"]
        print(_line(r, base))
    if args.json:
        with open(args.json, "a") as f:
            for r in rows:
                f.write(dumps(r) + "\n")  # strict JSON: a NaN is null
    return rows


def _line(r: Dict, base: Optional[Dict]) -> str:
    from timesformer import benchmark as bench

    if "error" in r:
        return f"{r['name']:<28} {r['mode']:<5} batch {r['batch']:<3} {r['error']}"
    fields = {k: r[k] for k in bench.Result.__dataclass_fields__}
    line = bench.format_result(bench.Result(**fields),
                               bench.Result(**{k: base[k] for k in fields}) if base and r is not base else None)
    if "max_abs_diff_vs_explicit" in r:
        line += (f"  |diff| vs eager {r['max_abs_diff_vs_eager']:.3g}, vs explicit softmax "
                 f"{r['max_abs_diff_vs_explicit']:.3g} (logits up to {r['logit_scale']:.3g})")
    return line


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return common.run_tool(build_parser(), _measure, argv)


def _measure(args: argparse.Namespace) -> int:
    problem = _problem(args)
    if problem:
        raise UsageError(problem)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
