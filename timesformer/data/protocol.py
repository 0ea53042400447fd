"""The evaluation protocol: which clips and crops of a video are scored (DATASET.md).

One definition for the evaluation splits of the datasets (``datasets/base.py``) and for the tools
that score video files (``timesformer/inference.py``: predict, visualize), so a video gets
the same views, hence the same score, from ``tools/run_net.py`` testing and ``tools/predict.py``.
The frame positions come from :mod:`sampling`; this layer reads the config and picks the function.

A video's views are its temporal clips x spatial crops, view ``v`` being clip ``v // crops`` and
crop ``v % crops``. Three crops are left / centre / right (top / centre / bottom of a portrait
video) of the frames resized to the crop size on the short side; one crop is the centre of the
frames resized to ``DATA.TRAIN_JITTER_SCALES[0]``.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from fvcore.common.config import CfgNode

from . import sampling

METHODS = ("clip", "segment", "cover")  # Kinetics-style clips, SSv2 segments, HowTo100M cover
CROP_NAMES = ("left", "centre", "right")  # transforms.spatial_crop positions 0, 1, 2


@dataclass(frozen=True)
class EvalProtocol:
    """How one split turns a video into scored views; built from the config by ``eval_protocol``."""

    dataset: str
    method: str  # one of METHODS
    temporal_views: int  # clips per video ("cover": as many as the video needs, see num_clips)
    spatial_crops: int  # 1 or 3
    num_frames: int
    sampling_rate: int
    target_fps: float
    short_side: int  # frames are resized to this short side before cropping
    crop_size: int
    ensemble: str  # how views combine into the video score (TEST.ENSEMBLE_METHOD)
    multi_label: bool = False  # class probabilities are sigmoids, not a softmax (DATA.MULTI_LABEL)

    @property
    def crop_positions(self) -> Tuple[int, ...]:
        """The spatial_crop positions of the crops, in view order."""
        return (0, 1, 2) if self.spatial_crops == 3 else (1,)

    def clip_length(self, video_fps: float) -> float:
        """Video frames from one clip's start to the next one's on the same frame grid (the stride of
        cover views and timeline windows), at ``video_fps``."""
        return sampling.clip_length(self.num_frames, self.sampling_rate, self.target_fps, video_fps)

    def num_clips(self, video_frames: int, video_fps: float) -> int:
        """Temporal clips of a video of ``video_frames`` frames at ``video_fps``."""
        if self.method == "cover":
            return sampling.num_cover_clips(video_frames, self.num_frames, self.sampling_rate, self.target_fps,
                                     video_fps)
        return self.temporal_views

    def clip(self, video_frames: int, video_fps: float, temporal: int, num_clips: Optional[int] = None) -> List[int]:
        """Frame indices of temporal clip ``temporal``; ``num_clips``: the cover views planned for the
        video (default: as many as its ``video_frames`` need), see ``sampling.cover_clip_indices``."""
        if self.method == "segment":
            return sampling.segment_indices(video_frames, self.num_frames, temporal, self.temporal_views)
        if self.method == "cover":
            return sampling.cover_clip_indices(video_frames, video_fps, self.num_frames, self.sampling_rate,
                                               self.target_fps, temporal, num_clips)
        return sampling.clip_indices(video_frames, video_fps, self.num_frames, self.sampling_rate,
                              self.target_fps, temporal, self.temporal_views)

    def clips(self, video_frames: int, video_fps: float) -> List[List[int]]:
        """Frame indices of every temporal clip, in view order."""
        return [self.clip(video_frames, video_fps, t) for t in range(self.num_clips(video_frames, video_fps))]

    def windows(self, video_frames: int, video_fps: float, stride: Optional[float] = None) -> List[List[int]]:
        """Clips along the whole video for a timeline (``sampling.window_clips``); a segment-sampled
        clip already spans the video, so that protocol's timeline is its one middle clip."""
        if self.method == "segment":
            return [sampling.segment_indices(video_frames, self.num_frames, 0, 1)]
        return sampling.window_clips(video_frames, video_fps, self.num_frames, self.sampling_rate, self.target_fps,
                              stride)

    def describe(self) -> Dict[str, Any]:
        """The protocol in words and numbers, for reports (tools/predict.py's JSON)."""
        n = self.temporal_views
        words = {("clip", True): "middle clip", ("clip", False): f"{n} clips spread evenly",
                 ("segment", True): "middle frame of each segment",
                 ("segment", False): f"{n} points spread evenly in each segment"}
        cover = self.method == "cover"
        return {"dataset": self.dataset,
                "sampling": "non-overlapping clips covering the video" if cover else words[self.method, n == 1],
                "temporal_views": None if cover else n, "spatial_crops": self.spatial_crops,
                "crops": [CROP_NAMES[p] for p in self.crop_positions], "num_frames": self.num_frames,
                "sampling_rate": self.sampling_rate, "target_fps": self.target_fps,
                "short_side": self.short_side, "crop_size": self.crop_size, "ensemble": self.ensemble,
                "multi_label": self.multi_label}


def eval_protocol(cfg: CfgNode, dataset: str, method: str, split: str = "test") -> EvalProtocol:
    """The protocol of ``split`` for a dataset sampling with ``method``: the test split uses
    TEST.NUM_ENSEMBLE_VIEWS x TEST.NUM_SPATIAL_CROPS, validation one middle clip x one crop."""
    if method not in METHODS:
        raise ValueError(f"sampling method {method!r}: expected one of {METHODS}")
    d, t = cfg.DATA, cfg.TEST
    test = split == "test"
    crops = t.NUM_SPATIAL_CROPS if test else 1
    return EvalProtocol(dataset=dataset, method=method, temporal_views=t.NUM_ENSEMBLE_VIEWS if test else 1,
                        spatial_crops=crops, num_frames=d.NUM_FRAMES, sampling_rate=d.SAMPLING_RATE,
                        target_fps=float(d.TARGET_FPS), crop_size=d.TEST_CROP_SIZE,
                        short_side=d.TEST_CROP_SIZE if crops > 1 else d.TRAIN_JITTER_SCALES[0],
                        ensemble=t.ENSEMBLE_METHOD, multi_label=d.MULTI_LABEL)
