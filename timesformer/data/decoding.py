"""Reading frames: PyAV (one seek, decode forward), optional torchcodec, and folders of JPEG frames.

Frame positions are indices on the video's own frame grid (index = time * fps). They come from
each decoded frame's timestamp, never from the header's frame count, which lies for mp4 files with
edit lists (DATASET.md). A position without a frame of its own (a hole left by an edit list or a
variable frame rate) shows the last frame before it. A request past the real end is answered by
``ShortVideo`` carrying the number of frames that really decode, so the caller can sample again.
A file cut short ends at its first decoding error, whichever position is asked for, so reading,
``count_frames`` and tools/check_videos.py agree; ``DecodeError`` means no frame decodes at all.

PyAV decodes only what the frames asked for need: from the keyframe before the first one, skipping
frames that nothing refers to (most B-frames) unless asked for, with bit-identical results. A
damaged frame that is skipped goes unseen (a file cut short is still cut short: its last packet
is always decoded); tools/check_videos.py decodes every frame and finds it.
"""
import logging
import math
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

import numpy as np

from timesformer.errors import DecodeError

from . import torchcodec_reader

logger = logging.getLogger(__name__)
T = TypeVar("T")

BACKENDS = ("pyav", "torchcodec")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# A video whose decodable frames fall below this share of what its duration promises is truncated.
TRUNCATED_FRACTION = 0.9
_counter = {"frames": 0}  # frames decoded by this process (frames_decoded)
# One decoder thread: the loader's workers keep the cores busy, and FFmpeg's frame threads cost
# ~1.2x the CPU per clip (BENCHMARKS.md) and report the error of a file cut short late or not at
# all, losing the frames decoded around it depending on timing.
DECODER_THREADS = 1


class ShortVideo(Exception):
    """The video ends before a requested frame; ``num_frames`` frames really decode."""

    def __init__(self, path: str, num_frames: int):
        super().__init__(f"{path} has only {num_frames} decodable frames")
        self.path, self.num_frames = path, num_frames


@dataclass
class VideoInfo:
    """What the container says: frame rate and an estimate of the frame count (from durations)."""

    fps: float
    num_frames: int  # estimate from the duration; the decoder finds the truth


def is_truncated(decoded: int, promised: int) -> bool:
    """Far fewer frames decode than the duration promises (a frame of slack for rounding)."""
    return decoded < TRUNCATED_FRACTION * promised - 1


def is_frame_folder(path: str) -> bool:
    """A directory is read as a folder of image frames."""
    return os.path.isdir(path)


def _natural_key(name: str) -> List[object]:
    """Sort key that compares digit runs as numbers: 2.jpg before 10.jpg."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_frame_files(path: str) -> List[str]:
    """Image files in a frame folder in frame order (numbers in names compare as numbers)."""
    files = sorted((f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS)), key=_natural_key)
    if not files:
        raise DecodeError(path, f"the folder holds no {'/'.join(IMAGE_EXTENSIONS)} frames")
    return files


def _check_exists(path: str) -> None:
    if not os.path.exists(path):
        raise DecodeError(path, "the file does not exist (check DATA.PATH_PREFIX and the annotation file)")


def probe(path: str, frames_fps: float = 30.0) -> VideoInfo:
    """Frame rate and estimated frame count of a video file or frame folder."""
    _check_exists(path)
    if is_frame_folder(path):
        return VideoInfo(float(frames_fps), len(list_frame_files(path)))
    import av

    try:
        with av.open(path) as container:
            stream = _video_stream(container, path)
            fps = _stream_fps(stream, path)
            return VideoInfo(fps, max(1, int(round(_duration(container, stream) * fps))))
    except av.FFmpegError as e:
        raise DecodeError(path, f"{type(e).__name__}: {e}") from e


def read_frames(path: str, indices: Sequence[int], backend: str = "pyav", frames_fps: float = 30.0,
                skip_nonref: bool = True, device: str = "cpu") -> np.ndarray:
    """Frames at ``indices`` (on the video's frame grid) as uint8 RGB (T, H, W, 3).

    ``skip_nonref`` (PyAV): do not decode frames that nothing refers to unless asked for; the
    frames are bit-identical either way. ``device`` (torchcodec): "cpu" or a CUDA device (NVDEC).
    Raises DecodeError for unreadable files and ShortVideo when an index lies past the real end.
    """
    _check_exists(path)
    if len(indices) == 0 or min(indices) < 0:
        raise ValueError(f"frame indices must be non-negative and non-empty, got {list(indices)}")
    if is_frame_folder(path):
        return _read_folder(path, indices)
    if backend == "pyav":
        return _read_pyav(path, indices, skip_nonref)
    if backend == "torchcodec":
        return _read_torchcodec(path, indices, device)
    raise ValueError(f"DATA.DECODING_BACKEND = {backend!r}: expected one of {BACKENDS}")


def read_options(data_cfg: Any) -> Dict[str, Any]:
    """``read_frames``' keyword arguments from the DATA config; "cuda" becomes this process's GPU
    ("cuda:<current device>"), so loader workers started from a rank decode on the rank's GPU.
    torchcodec is tried on that device here: a setting that cannot work raises RuntimeError."""
    device = data_cfg.DECODING_DEVICE
    if device == "cuda":
        import torch

        device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else device
    problem = torchcodec_problem(device) if data_cfg.DECODING_BACKEND == "torchcodec" else ""
    if problem:
        raise RuntimeError(f"DATA.DECODING_BACKEND torchcodec, DATA.DECODING_DEVICE {device}: {problem}")
    return {"backend": data_cfg.DECODING_BACKEND, "frames_fps": data_cfg.FRAMES_FPS,
            "skip_nonref": data_cfg.SKIP_NONREF_FRAMES, "device": device}


def count_frames(path: str, backend: str = "pyav") -> int:
    """Decode the whole video and count the frames that really decode."""
    _check_exists(path)
    if is_frame_folder(path):
        return len(list_frame_files(path))
    if backend == "torchcodec":
        try:
            _read_torchcodec(path, [2 ** 31 - 1], "cpu")
        except ShortVideo as e:
            return e.num_frames
    decoded = _decode_pyav(path, [2 ** 31 - 1], seek=False)
    if decoded.last < 0:
        raise DecodeError(path, decoded.error or "no frame decodes")
    return decoded.last + 1  # up to the real end, or to the first FFmpeg error (a cut-off file)


def frames_decoded() -> int:
    """Frames this process has decoded so far (PyAV frames out of the decoder, images read from a
    folder): datasets put the difference per item in "frames_decoded", tools/benchmark_data.py
    reports it per clip. torchcodec does not say, so its reads add nothing."""
    return _counter["frames"]


@dataclass
class VideoScan:
    """A video scanned: why it is unreadable ("" if readable), the frames that really decode (-1 if
    not counted), and what the container promises (None if unreadable)."""

    error: str
    frames: int
    info: Optional[VideoInfo]


def scan_video(path: str, backend: str = "pyav", frames_fps: float = 30.0, count: bool = True) -> VideoScan:
    """Probe and (``count``) fully decode one video; never raises DecodeError, so it suits a process pool."""
    try:
        info = probe(path, frames_fps)
        return VideoScan("", count_frames(path, backend) if count else -1, info)
    except DecodeError as e:
        return VideoScan(e.reason, 0, None)


def map_videos(fn: Callable[[str], T], paths: List[str], workers: int) -> Iterator[T]:
    """``fn(path)`` for every path, in order, in ``workers`` processes (0 or 1: this one)."""
    if workers <= 1 or len(paths) <= 1:
        yield from map(fn, paths)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(fn, paths, chunksize=max(1, len(paths) // (4 * workers)))


def torchcodec_problem(device: str = "cpu") -> str:
    """Why the torchcodec backend cannot decode on ``device`` here, with the fix ("" when it can)."""
    return torchcodec_reader.problem(device)


def _read_torchcodec(path: str, indices: Sequence[int], device: str) -> np.ndarray:
    try:
        frames, num = torchcodec_reader.read(path, indices, device)
    except torchcodec_reader.TorchcodecReadError as e:
        raise DecodeError(path, str(e)) from e
    if frames is None:
        raise ShortVideo(path, num)
    return frames


# ----------------------------------------------------------------------------- PyAV
def _video_stream(container, path: str):
    if not container.streams.video:
        raise DecodeError(path, "the file has no video stream")
    return container.streams.video[0]


def _stream_fps(stream, path: str) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or float(rate) <= 0:
        raise DecodeError(path, "the video stream has no frame rate")
    return float(rate)


def _duration(container, stream) -> float:
    """Seconds of video from the stream's (else the container's) duration."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    return 0.0


def _read_pyav(path: str, indices: Sequence[int], skip_nonref: bool = True) -> np.ndarray:
    """One seek to the keyframe before min(indices), then decode forward up to max(indices).

    ``skip_nonref``: the first pass skips frames that nothing refers to unless asked for (most
    B-frames of H.264/HEVC): the frames asked for are bit-identical, and it is kept only when it
    cannot differ from decoding every frame (see ``_settled``). Otherwise, and without skipping,
    the seeking pass decodes every frame; it is abandoned for one pass from the start when it
    fails: an FFmpeg error (a seek into the missing part of a cut-off file), no frame, or a first
    frame past the clip. So every request sees the same stream as ``count_frames``: frames up to
    the real end or the first error.
    """
    wanted = sorted(set(int(i) for i in indices))
    seek = wanted[0] > 0
    passes = ([(seek, True)] if skip_nonref else []) + ([(True, False)] if seek else []) + [(False, False)]
    for k, (seek_pass, skip_pass) in enumerate(passes):
        decoded = _decode_pyav(path, wanted, seek_pass, skip_pass)
        if k == len(passes) - 1 or _settled(decoded, wanted, seek_pass):
            break
    if decoded.last < 0:
        raise DecodeError(path, decoded.error or "no frame decodes")
    if wanted[-1] > decoded.last:
        raise ShortVideo(path, decoded.last + 1)
    return np.stack([decoded.frames[int(i)] for i in indices])


def _settled(decoded: "_Decoded", wanted: List[int], seek: bool) -> bool:
    """A pass's answer stands: no FFmpeg error, some frame decoded, after a seek none missed before
    wanted[0], and no index filled from a frame before a skipped one (which it may have shown)."""
    return not decoded.error and decoded.first >= 0 and not (seek and decoded.first > wanted[0]) \
        and not decoded.ambiguous


@dataclass
class _Decoded:
    """One decoding pass: RGB frames of the wanted indices, the first and last index decoded (-1:
    none), the FFmpeg error that ended the pass early ("" if it ran to the clip's end or the file's)
    and, when skipping, whether an index was filled in a way a skipped frame could have changed."""

    frames: Dict[int, np.ndarray]
    first: int = -1
    last: int = -1
    error: str = ""
    ambiguous: bool = False


class _Frame:
    """A decoded frame at ``index``, converted to RGB once and only when a wanted index takes it."""

    def __init__(self, frame, index: int):
        self.frame, self.index, self.pts, self._rgb = frame, index, frame.pts, None

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self.frame.to_ndarray(format="rgb24")
        return self._rgb


class _Pass:
    """What one pass has found: the wanted indices' frames, and the traces a skipping pass leaves
    (the timestamps it skipped, the gaps it filled from a neighbouring frame)."""

    def __init__(self, wanted: List[int]):
        self.out, self.wanted, self.previous = _Decoded({}), set(wanted), None
        self.pending = iter(wanted)  # wanted indices, in order, not yet given a frame
        self.todo: Optional[int] = next(self.pending)
        self.skipped: List[int] = []  # pts of packets sent with skip_frame NONREF
        self.fills: List[tuple] = []  # (pts before or None, pts after) of each index without its own frame

    def take(self, current: _Frame) -> bool:
        """Give ``current`` to the wanted indices up to its own; True once every index has a frame.

        Each index takes the last frame at or before it: its own, or in a hole (an edit list or a
        variable frame rate leaves positions without a frame) the one shown there; an index before
        the first frame takes that frame."""
        out = self.out
        out.first = current.index if out.first < 0 else out.first
        out.last = max(out.last, current.index)
        while self.todo is not None and self.todo <= current.index:
            own = self.todo == current.index or self.previous is None
            if self.todo != current.index:
                self.fills.append((None if self.previous is None else self.previous.pts, current.pts))
            out.frames[self.todo] = (current if own else self.previous).rgb()
            self.todo = next(self.pending, None)
        self.previous = current
        return self.todo is None

    def finish(self, index: Callable[[int], int], at_end: bool) -> _Decoded:
        """The pass's result; ``at_end``: it decoded to the end of the stream, where the frames it
        skipped would have been shown too (they count towards ``last``)."""
        shown = [p for p in self.skipped if index(p) >= 0]
        self.out.ambiguous = any((lo is None or lo < p) and p < hi for lo, hi in self.fills for p in shown)
        if at_end and shown and self.out.last >= 0:
            self.out.last = max(self.out.last, max(index(p) for p in shown))
        return self.out


def _decode_pyav(path: str, wanted: List[int], seek: bool, skip: bool = False) -> _Decoded:
    """Decode from the keyframe before wanted[0] (or the start) until wanted[-1] or the end.

    Every wanted index takes its frame (``_Pass.take``). An FFmpeg error ends the pass: the frames
    before it stand, and ``error`` says why it ended. ``skip``: packets whose timestamps no wanted
    index asks for are decoded with ``skip_frame = NONREF``, so frames nothing refers to are not
    decoded at all; the last packet never is (a file cut short shows its error there).
    """
    import av

    state, index, at_end = _Pass(wanted), None, False
    try:
        with av.open(path) as container:
            stream = _video_stream(container, path)
            stream.codec_context.thread_count = DECODER_THREADS
            fps, tb = _stream_fps(stream, path), float(stream.time_base)
            start = stream.start_time or 0

            def index(pts: int) -> int:
                return int(round((pts - start) * tb * fps))

            if seek:
                container.seek(int(math.floor(wanted[0] / fps / tb)) + start, stream=stream,
                               backward=True, any_frame=False)
            for packet, following in _with_next(container.demux(stream)):
                if skip:
                    _set_skip(stream.codec_context, packet, following, state, index)
                for frame in packet.decode():
                    _counter["frames"] += 1
                    if frame.pts is None or index(frame.pts) < 0:  # no time, or dropped by an edit list
                        continue
                    if state.take(_Frame(frame, index(frame.pts))):
                        return state.finish(index, at_end=False)
            at_end = True
    except av.FFmpegError as e:
        state.out.error = f"{type(e).__name__}: {e}"
        logger.debug("%s: decoding stopped after index %d: %s", path, state.out.last, state.out.error)
    return state.finish(index, at_end) if index else state.out


def _with_next(packets: Iterator) -> Iterator[tuple]:
    """(packet, the one after it or None) for each packet, demuxing one ahead."""
    current = next(packets, None)
    while current is not None:
        following = next(packets, None)
        yield current, following
        current = following


def _set_skip(context, packet, following, state: _Pass, index: Callable[[int], int]) -> None:
    """Decode ``packet`` in full when a wanted index asks for its timestamp (or it has none, or it
    is the stream's last), else skip its frame if nothing refers to it."""
    last = following is None or following.size == 0  # an empty packet flushes the decoder at the end
    if packet.pts is None or last or packet.size == 0 or index(packet.pts) in state.wanted:
        context.skip_frame = "DEFAULT"
        return
    context.skip_frame = "NONREF"
    state.skipped.append(packet.pts)


# ----------------------------------------------------------------------------- JPEG folders
def _read_folder(path: str, indices: Sequence[int]) -> np.ndarray:
    """Load the image files at ``indices`` (sorted by name) as RGB."""
    from PIL import Image

    files = list_frame_files(path)
    if max(indices) >= len(files):
        raise ShortVideo(path, len(files))
    frames = {}
    for i in sorted(set(int(i) for i in indices)):
        file = os.path.join(path, files[i])
        try:
            with Image.open(file) as image:
                frames[i] = np.asarray(image.convert("RGB"))
            _counter["frames"] += 1
        except OSError as e:
            raise DecodeError(file, f"{type(e).__name__}: {e}") from e
    return np.stack([frames[int(i)] for i in indices])
