"""Where a TimeSformer looks: attention rollout through space and time, drawn over the frames.

    python tools/visualize_attention.py video.mp4 --weights TimeSformer_divST_8x32_224_K400.pyth --out attention
    python tools/visualize_attention.py video.mp4 --weights W --clip 3 --format mp4 --head-fusion max

Takes one clip of VIDEO, its centre crop: by default the clip the config's test protocol scores
(the middle one of its clips: Kinetics' middle clip), with --clip K window K along the video as
tools/predict.py --timeline numbers them. Runs the model with
attention weights and rolls them out through every attention step of every block (all five
schemes). Writes DIR/<video>_attention.png (titled with the predicted class, its probability (a
softmax over the classes, or for a multi-label model, DATA.MULTI_LABEL, the class's own sigmoid)
and the clip's time; frames above their overlays, each column labelled with its frame's time and
share of the relevance; a colour bar), DIR/<video>_attention.gif (or .mp4; frames and overlays
side by side) and DIR/<video>_rollout.npy (the map, (T, H', W'), scaled to [0, 1] over the clip).
"""
import argparse
import sys
from typing import List, Optional

from timesformer.cli import common

# visualize.HEAD_FUSIONS (a test keeps them equal); named here so that --help imports no torch
HEAD_FUSIONS = ("mean", "max", "min")


def build_parser() -> argparse.ArgumentParser:
    """The video, --weights and the drawing options; trailing KEY VALUE config overrides."""
    p = common.build(__name__, __doc__)
    p.add_argument("video", help="video file or folder of JPEG frames")
    p.add_argument("--weights", required=True, help="checkpoint file, Hugging Face folder or hub id")
    p.add_argument("--out", default="attention", help="output folder")
    common.add_cfg(p, what="config deciding the clip protocol (optional; default: the checkpoint's)")
    p.add_argument("--clip", type=int, default=None,
                   help="window K along the video, as predict.py --timeline numbers them "
                        "(default: the test protocol's middle clip)")
    p.add_argument("--format", choices=("gif", "mp4"), default="gif", help="animation format")
    p.add_argument("--fps", type=float, default=4.0, help="animation frame rate")
    p.add_argument("--alpha", type=float, default=0.5, help="opacity of the heat map")
    p.add_argument("--head-fusion", choices=HEAD_FUSIONS, default="mean", help="how heads are combined")
    p.add_argument("--class-names", default=None, help="k400, k600, ssv2 or a file, one name per line")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    common.add_overrides(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Roll out the attention of one clip's centre crop and draw it."""
    import logging
    import os

    device = common.device(args.device)  # before the library is imported: no GPU answers at once
    from timesformer.data import test_protocol
    from timesformer.errors import LOAD_ERRORS
    from timesformer.inference import load_predictor, model_input, top_k, video_clips
    from timesformer.visualize import attention_rollout, normalize_maps, write_attention

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with common.usage_errors(*LOAD_ERRORS):
        p = load_predictor(args.weights, args.cfg, args.opts, args.class_names, str(device))
    clips, _, _ = video_clips(args.video, p.cfg, timeline=args.clip is not None)
    k = len(clips) // 2 if args.clip is None else args.clip
    if not 0 <= k < len(clips):
        raise common.UsageError(f"--clip {k}: the video has windows 0..{len(clips) - 1}")
    clip = clips[k]  # decodes this clip only
    crop = clip.crops[clip.crops.shape[0] // 2]  # the centre crop, (C, T, S, S) uint8 RGB
    x = model_input(p, crop[None])  # in the model's channel order; the frames drawn stay RGB
    out = attention_rollout(p.model, x, args.head_fusion)
    heat = normalize_maps(out["rollout"])[0].cpu().numpy()  # (T, H', W') in [0, 1]
    frames = crop.permute(1, 2, 3, 0).numpy()  # (T, S, S, 3)
    stem = os.path.splitext(os.path.basename(os.path.normpath(args.video)))[0]
    logits = out["logits"][0].float().cpu()  # (num_classes,)
    kind = "sigmoid" if p.cfg.DATA.MULTI_LABEL else "softmax"
    probs = logits.sigmoid() if p.cfg.DATA.MULTI_LABEL else logits.softmax(dim=0)
    best = top_k(probs, 1, p.class_names)[0]
    span = f"{clip.start_s:.2f}-{clip.end_s:.2f} s"
    which = (f"test clip {k} ({test_protocol(p.cfg).describe()['sampling']}, {span})" if args.clip is None
             else f"window {k} ({span})")
    title = (f"{best['name']}  probability ({kind}) {best['score']:.3f}  |  {which}  |  "
             f"{p.model.model.attention_type}")
    title += f"\nclass names {p.class_names_source}" if p.class_names_source.startswith("guessed") else ""
    paths = write_attention(frames, heat, out["per_frame"][0].tolist(), args.out, stem, args.format,
                            args.fps, args.alpha, title=title, frame_times=[f / clips.fps for f in clip.frames])
    print(f"{args.video} {which}, {p.model.model.attention_type}: {best['name']} ({kind} {best['score']:.3f})")
    print(f"title: {title.splitlines()[0]}")
    print(p.describe_class_names())
    for path in paths.values():
        print(f"  wrote {path}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    return common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
