"""Running a trained TimeSformer on video files: weights + protocol config, the test views of a
video (the config's test protocol, ``timesformer.data.test_protocol``, as run_net testing scores
it), windows along the whole video for a timeline, and scores per video and window.

Shared by ``tools/predict.py``, ``tools/visualize_attention.py`` and ``tools/export.py``.
"""
import collections.abc
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from timesformer.checkpoint import Weights, read_source
from timesformer.checkpoint.channels import apply_channel_order
from timesformer.classnames import CHECKPOINT, ClassNames, guess_class_names, load_class_names
from timesformer.config import CfgNode, load_config, merge_opts
from timesformer.config.stated import read_stored, stated_keys, stored_datasets
from timesformer.data import EvalProtocol, decoding, test_protocol, transforms
from timesformer.data.datasets.video_list import CLASS_NAMES
from timesformer.engine import check_config
from timesformer.engine.evaluator import combine_views
from timesformer.errors import UsageError
from timesformer.models import backbone, from_pretrained
from timesformer.utils.amp import autocast, autocast_dtype

logger = logging.getLogger(__name__)

# Keys of a stored config (ours or the reference's) that describe how a video becomes model input,
# and the training data folder (for its classnames.txt).
PROTOCOL_KEYS = ("DATA.PATH_TO_DATA_DIR", "DATA.NUM_FRAMES", "DATA.SAMPLING_RATE", "DATA.TARGET_FPS",
                 "DATA.TRAIN_JITTER_SCALES", "DATA.TRAIN_CROP_SIZE", "DATA.TEST_CROP_SIZE", "DATA.MEAN", "DATA.STD",
                 "DATA.FRAMES_FPS", "DATA.MULTI_LABEL", "TEST.NUM_ENSEMBLE_VIEWS", "TEST.NUM_SPATIAL_CROPS",
                 "TEST.ENSEMBLE_METHOD", "TEST.DATASET")


@dataclass
class Predictor:
    """A model in eval mode on its device, the protocol config, the class names (or None) and where
    they came from (``ClassNames.source``: "checkpoint", a guess from the class count, ...)."""

    model: nn.Module
    cfg: CfgNode
    class_names: Optional[List[str]]
    device: torch.device
    class_names_source: str = "none"

    def describe_class_names(self) -> str:
        """'class names: SOURCE', the line the tools print (a guess or no names said as such)."""
        return f"class names: {self.class_names_source}"


def protocol_config(model: nn.Module, stored_cfg: Optional[str], source: str, opts: Sequence[str] = ()) -> CfgNode:
    """The config that decides sampling and transforms without a config file: the checkpoint's
    stored config, else defaults; the model's frames, size and classes win over them, ``opts`` over all."""
    vit = backbone(model)
    cfg, _ = read_stored(stored_cfg, PROTOCOL_KEYS, source)
    if not stored_cfg and vit.num_classes == 174:  # a checkpoint without config: SSv2 heads are 174 wide
        cfg.TEST.DATASET = "ssv2"
    size = vit.patch_grid[0] * vit.patch_size
    cfg.DATA.NUM_FRAMES = vit.num_frames  # from its time_embed, else the checkpoint's stated count
    cfg.MODEL.NUM_CLASSES = vit.num_classes
    if not stored_cfg:
        cfg.DATA.TRAIN_CROP_SIZE = cfg.DATA.TEST_CROP_SIZE = size
        if size != 224:
            cfg.DATA.TRAIN_JITTER_SCALES = [size, size * 8 // 7]
    merge_opts(cfg, opts)  # as run_net: an int for a float key, errors naming the key
    cfg.freeze()
    return cfg


def _data_dir_class_names(data_dir: str, num_classes: int) -> Optional[ClassNames]:
    """The training data folder's ``classnames.txt`` (for checkpoints that do not store the names),
    when it exists on this machine and names ``num_classes`` classes."""
    path = os.path.join(data_dir, CLASS_NAMES) if data_dir else ""
    if not os.path.isfile(path):
        return None
    names = load_class_names(path)
    if len(names) != num_classes:
        logger.warning("%s lists %d class names, the model has %d classes; not using it (pass --class-names)",
                       path, len(names), num_classes)
        return None
    return ClassNames(names, f"training data folder ({path})")


def predictor_class_names(w: Weights, data_dir: str, num_classes: int, given: Optional[str] = None) -> ClassNames:
    """The names of the model's classes: ``given`` (--class-names), else the checkpoint's, else the
    training data folder's classnames.txt, else the built-in list of that class count (said to be a
    guess, and never for a model trained on a video_list or synthetic set: its stored config says)."""
    if given:
        found = ClassNames(load_class_names(given), f"--class-names {given}")
    elif w.class_names:
        found = ClassNames(list(w.class_names), CHECKPOINT)
    else:
        found = _data_dir_class_names(data_dir, num_classes) or guess_class_names(
            num_classes, stored_datasets(w.cfg, w.source))
    if found.names is not None and len(found.names) != num_classes:
        raise ValueError(f"{len(found.names)} class names ({found.source}) for a model with {num_classes} classes "
                         f"({w.source}); pass --class-names with a list of {num_classes} names")
    return found


def load_predictor(weights: str, cfg_path: Optional[str] = None, opts: Sequence[str] = (),
                   class_names: Optional[str] = None, device: Optional[str] = None) -> Predictor:
    """Model, protocol config and class names from ``weights`` (our checkpoint, a released .pyth,
    a Hugging Face folder or hub id). The names: see :func:`predictor_class_names`."""
    w = read_source(weights)
    kwargs: Dict[str, Any] = {}
    given = check_config(load_config(cfg_path, opts)) if cfg_path else None
    if given is not None:  # an explicit config decides the protocol and may change the frames / size
        kwargs = dict(num_frames=given.DATA.NUM_FRAMES, img_size=given.DATA.TRAIN_CROP_SIZE)
    model = from_pretrained(w, **kwargs).eval()
    cfg = given if given is not None else protocol_config(model, w.cfg, w.source, opts)
    stated = "DATA.INPUT_CHANNEL_ORDER" in stated_keys(cfg_path, opts)
    cfg = apply_channel_order(cfg, w.channel_order, w.channel_order_note, w.source, stated)
    names = predictor_class_names(w, cfg.DATA.PATH_TO_DATA_DIR, model.model.num_classes, class_names)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return Predictor(model.to(dev), cfg, names.names, dev, names.source)


@dataclass
class Clip:
    """One temporal clip of a video: its frame indices, time span and the crops (V, C, T, S, S) uint8."""

    index: int
    frames: List[int]
    start_s: float
    end_s: float
    crops: torch.Tensor = field(repr=False)


def _crops(frames, protocol: EvalProtocol) -> torch.Tensor:
    """Decoded (T, H, W, C) uint8 -> the protocol's crops (V, C, T, S, S) uint8, as the test split does."""
    clip = transforms.resize_short_side(transforms.to_tchw(frames), protocol.short_side)  # resized once
    return torch.stack([transforms.eval_crop(clip, protocol.crop_size, p) for p in protocol.crop_positions])


class VideoClips(collections.abc.Sequence):
    """Clips of one video, each decoded and cropped only when it is indexed (iterating decodes one
    clip after another), so memory holds one clip whatever the video's length."""

    def __init__(self, path: str, cfg: CfgNode, plan: List[List[int]], fps: float, num_frames: int):
        self.path, self.cfg, self.plan, self.fps, self.num_frames = path, cfg, plan, fps, num_frames
        self.protocol = test_protocol(cfg)
        self.read_options = decoding.read_options(cfg.DATA)

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: Union[int, slice]) -> Union[Clip, List[Clip]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]  # negative indices; IndexError past the end
        try:
            frames = decoding.read_frames(self.path, self.plan[i], **self.read_options)
        except decoding.ShortVideo as e:  # video_clips decoded the furthest frame: only if the file changed
            raise decoding.DecodeError(self.path, f"only {e.num_frames} frames decode") from e
        start, end = self.span(i)
        return Clip(i, self.plan[i], start, end, _crops(frames, self.protocol))

    def span(self, i: int) -> Tuple[float, float]:
        """Start and end (seconds) of clip ``i``."""
        return self.plan[i][0] / self.fps, (self.plan[i][-1] + 1) / self.fps


# (video frames, fps) -> the frame indices of each clip: EvalProtocol.clips, EvalProtocol.windows, ...
ClipPlan = Callable[[int, float], List[List[int]]]


def window_stride(path: str, fps: float, stride_s: Optional[float]) -> Optional[float]:
    """``stride_s`` seconds between windows of the video at ``path`` -> video frames (None: the
    default, a clip length); a stride under one frame is a UsageError."""
    if stride_s is None:
        return None
    if stride_s * fps < 1:
        raise UsageError(f"--stride {stride_s} s is less than one frame of {path} ({fps:g} fps); "
                         f"give at least {1 / fps:.3g} s")
    return stride_s * fps


def video_clips(path: str, cfg: CfgNode, timeline: bool = False,
                stride_s: Optional[float] = None) -> Tuple[VideoClips, float, float]:
    """The test protocol's clips of the video at ``path`` (``timeline``: the windows along the whole
    video instead, one every ``stride_s`` seconds, default a clip length) -> (clips, decoded lazily;
    fps; duration in seconds); see ``planned_clips``."""
    protocol = test_protocol(cfg)
    if stride_s is not None and timeline and protocol.method == "segment":
        logger.warning("%s: a segment-sampled clip spans the whole video, so the timeline is that one clip; "
                       "the stride does not apply", path)

    def plan(num: int, fps: float) -> List[List[int]]:
        return protocol.windows(num, fps, window_stride(path, fps, stride_s)) if timeline else protocol.clips(num, fps)

    return planned_clips(path, cfg, plan)


def planned_clips(path: str, cfg: CfgNode, plan: ClipPlan) -> Tuple[VideoClips, float, float]:
    """The clips ``plan`` places in the video at ``path`` -> (clips, decoded lazily; fps; duration in
    seconds).

    Positions come from the container's duration; the furthest planned frame is decoded here, and
    when the video ends before it, the clips are planned again on the frames that exist (as the
    test split does). Unreadable files raise ``decoding.DecodeError`` naming the file.
    """
    options = decoding.read_options(cfg.DATA)
    info = decoding.probe(path, cfg.DATA.FRAMES_FPS)
    num, fps = info.num_frames, info.fps
    for attempt in range(2):
        clips = plan(num, fps)
        try:
            decoding.read_frames(path, [max(max(idx) for idx in clips)], **options)
            break
        except decoding.ShortVideo as e:
            if attempt or e.num_frames < 1:
                raise decoding.DecodeError(path, f"only {e.num_frames} frames decode") from e
            logger.info("%s: %d frames decode, not the ~%d its duration promises", path, e.num_frames, num)
            num = e.num_frames
    return VideoClips(path, cfg, clips, fps, num), fps, num / fps


def model_input(p: Predictor, views: torch.Tensor) -> torch.Tensor:
    """uint8 RGB views (b, C, T, S, S) -> normalised float input on ``p.device``, channels in the
    order the model was trained on (DATA.INPUT_CHANNEL_ORDER; BGR for the released SSv2 models)."""
    views = transforms.to_channel_order(views.to(p.device), p.cfg.DATA.INPUT_CHANNEL_ORDER, dim=1)
    return transforms.normalize(views, p.cfg.DATA.MEAN, p.cfg.DATA.STD)


@torch.no_grad()
def run_clips(p: Predictor, clips: Iterable[Clip], batch_size: int = 8,
              precision: str = "none") -> Tuple[torch.Tensor, torch.Tensor]:
    """Logits (V, K) and final CLS features (V, D) of every crop of every clip, in clip order.

    Clips are taken one at a time, so memory holds one batch of views plus a clip (pass a
    :class:`VideoClips` or a generator); ``precision`` "bf16" / "fp16" runs the model under autocast.
    """
    autocast_dtype(precision)  # an unknown name fails before any clip is decoded
    vit = backbone(p.model)
    logits, feats, pending = [], [], []

    def forward(views: torch.Tensor) -> None:  # (b, C, T, S, S) uint8
        x = model_input(p, views)
        with autocast(p.device, precision):
            feat = vit.forward_features(x)  # (b, D)
            logits.append(vit.forward_head(feat).float().cpu())
        feats.append(feat.float().cpu())

    for clip in clips:
        pending.extend(clip.crops)  # its (C, T, S, S) views
        while len(pending) >= batch_size:
            forward(torch.stack(pending[:batch_size]))
            del pending[:batch_size]
    if pending:
        forward(torch.stack(pending))
    return torch.cat(logits), torch.cat(feats)


def top_k(scores: torch.Tensor, k: int, names: Optional[List[str]]) -> List[Dict[str, Any]]:
    """The k best classes of one score vector (K,) as {"label", "name", "score"} dicts."""
    values, idx = scores.topk(min(k, scores.numel()))
    return [{"label": int(i), "name": names[int(i)] if names else str(int(i)), "score": float(v)}
            for v, i in zip(values, idx, strict=True)]


def video_scores(p: Predictor, logits: torch.Tensor) -> torch.Tensor:
    """Class scores (K,) of views' logits (V, K) combined by TEST.ENSEMBLE_METHOD: class probabilities
    (a softmax, or with DATA.MULTI_LABEL one sigmoid per class), or summed logits ("sum")."""
    return combine_views(logits, p.cfg.TEST.ENSEMBLE_METHOD, p.cfg.DATA.MULTI_LABEL)


def _spans(clips: VideoClips, key: str) -> List[Dict[str, Any]]:
    """Index, frame indices and start / end seconds of every clip, as the JSON output lists them."""
    return [{key: i, "frames": frames, "start_s": round(start, 3), "end_s": round(end, 3)}
            for i, (frames, (start, end))
            in enumerate(zip(clips.plan, map(clips.span, range(len(clips))), strict=True))]


def smooth_windows(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Window scores (W, K) -> each the mean of ``k`` windows centred on it (an even ``k`` takes one
    more after it than before); near the ends, the mean of those of the ``k`` that exist."""
    w = scores.shape[0]
    sums = torch.cat([scores.new_zeros(1, scores.shape[1]), scores.double().cumsum(0)])  # (W + 1, K)
    lo = (torch.arange(w) - (k - 1) // 2).clamp(min=0)
    hi = (torch.arange(w) + k // 2 + 1).clamp(max=w)
    return ((sums[hi] - sums[lo]) / (hi - lo).unsqueeze(1)).to(scores.dtype)  # (W, K)


def timeline_scores(p: Predictor, path: str, known: Dict[Tuple[int, ...], torch.Tensor], k: int = 5,
                    batch_size: int = 8, precision: str = "none", stride_s: Optional[float] = None,
                    smooth: int = 1) -> List[Dict[str, Any]]:
    """Top-k classes of every window along the video (``EvalProtocol.windows``, one every ``stride_s``
    seconds), each window's crops combined by TEST.ENSEMBLE_METHOD, then averaged over ``smooth``
    windows (``smooth_windows``). ``known``: {frame indices: crop logits (crops, K)} of clips already
    run (the protocol's own), which are not run again."""
    windows, _, _ = video_clips(path, p.cfg, timeline=True, stride_s=stride_s)
    todo = [i for i, frames in enumerate(windows.plan) if tuple(frames) not in known]
    if todo:
        logits, _ = run_clips(p, (windows[i] for i in todo), batch_size, precision)  # (len(todo) * crops, K)
        known = {**known, **{tuple(windows.plan[i]): part
                             for i, part in zip(todo, logits.view(len(todo), -1, logits.shape[-1]), strict=True)}}
    entries = _spans(windows, "window")
    scores = smooth_windows(torch.stack([video_scores(p, known[tuple(e["frames"])]) for e in entries]), smooth)
    for entry, row in zip(entries, scores, strict=True):  # row: (K,)
        entry["top"] = top_k(row, k, p.class_names)
    return entries


def predict_video(p: Predictor, path: str, k: int = 5, batch_size: int = 8, precision: str = "none",
                  timeline: bool = False, stride_s: Optional[float] = None, smooth: int = 1) -> Dict[str, Any]:
    """Scores of one video as run_net testing computes them: the test protocol's views combined by
    TEST.ENSEMBLE_METHOD; the mean CLS feature of those views; with ``timeline`` also the scores
    of every window along the video (``timeline_scores``: ``stride_s``, ``smooth``)."""
    clips, fps, duration = video_clips(path, p.cfg)
    logits, feats = run_clips(p, clips, batch_size, precision)  # (clips * crops, K), (clips * crops, D)
    per_clip = logits.view(len(clips), -1, logits.shape[-1])  # (clips, crops, K)
    scores = video_scores(p, logits)
    result = {"video": path, "duration_s": round(duration, 3), "fps": round(fps, 3), "num_clips": len(clips),
              "num_crops": per_clip.shape[1], "clips": _spans(clips, "clip"), "top": top_k(scores, k, p.class_names),
              "scores": scores, "feature": feats.mean(dim=0)}
    if timeline:
        known = {tuple(frames): part for frames, part in zip(clips.plan, per_clip, strict=True)}
        result["timeline"] = timeline_scores(p, path, known, k, batch_size, precision, stride_s, smooth)
        result["timeline_smooth"] = smooth
    return result
