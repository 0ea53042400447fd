"""Reading frames: PyAV (one seek, decode forward), optional torchcodec, and folders of JPEG frames.

Frame positions are indices on the video's own frame grid (index = time * fps). They come from
each decoded frame's timestamp, never from the header's frame count, which lies for mp4 files with
edit lists (SPEC §3). A position without a frame of its own (a hole left by an edit list or a
variable frame rate) shows the last frame before it. A request past the real end is answered by
``ShortVideo`` carrying the number of frames that really decode, so the caller can sample again.
A file cut short ends at its first decoding error, whichever position is asked for, so reading,
``count_frames`` and tools/check_videos.py agree; ``DecodeError`` means no frame decodes at all.
"""
import logging
import math
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

import numpy as np

logger = logging.getLogger(__name__)
T = TypeVar("T")

BACKENDS = ("pyav", "torchcodec")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# A video whose decodable frames fall below this share of what its duration promises is truncated.
TRUNCATED_FRACTION = 0.9


class DecodeError(RuntimeError):
    """A video that cannot be read (missing, not a video, truncated, no frames); names the file."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"cannot read video {path}: {reason}")
        self.path, self.reason = path, reason


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


def read_frames(path: str, indices: Sequence[int], backend: str = "pyav",
                frames_fps: float = 30.0) -> np.ndarray:
    """Frames at ``indices`` (on the video's frame grid) as uint8 RGB (T, H, W, 3).

    Raises DecodeError for unreadable files and ShortVideo when an index lies past the real end.
    """
    _check_exists(path)
    if len(indices) == 0 or min(indices) < 0:
        raise ValueError(f"frame indices must be non-negative and non-empty, got {list(indices)}")
    if is_frame_folder(path):
        return _read_folder(path, indices)
    if backend == "pyav":
        return _read_pyav(path, indices)
    if backend == "torchcodec":
        return _read_torchcodec(path, indices)
    raise ValueError(f"DATA.DECODING_BACKEND = {backend!r}: expected one of {BACKENDS}")


def count_frames(path: str, backend: str = "pyav") -> int:
    """Decode the whole video and count the frames that really decode."""
    _check_exists(path)
    if is_frame_folder(path):
        return len(list_frame_files(path))
    if backend == "torchcodec":
        try:
            _read_torchcodec(path, [2 ** 31 - 1])
        except ShortVideo as e:
            return e.num_frames
    decoded = _decode_pyav(path, [2 ** 31 - 1], seek=False)
    if decoded.last < 0:
        raise DecodeError(path, decoded.error or "no frame decodes")
    return decoded.last + 1  # up to the real end, or to the first FFmpeg error (a cut-off file)


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


def _read_pyav(path: str, indices: Sequence[int]) -> np.ndarray:
    """One seek to the keyframe before min(indices), then decode forward up to max(indices).

    The seeking pass is abandoned for one pass from the start when it fails: an FFmpeg error (a seek
    into the missing part of a cut-off file), no frame, or a first frame past the clip. So every
    request sees the same stream as ``count_frames``: frames up to the real end or the first error.
    """
    wanted = sorted(set(int(i) for i in indices))
    decoded = _decode_pyav(path, wanted, seek=True) if wanted[0] > 0 else None
    if decoded is None or decoded.error or decoded.first < 0 or decoded.first > wanted[0]:
        decoded = _decode_pyav(path, wanted, seek=False)
    if decoded.last < 0:
        raise DecodeError(path, decoded.error or "no frame decodes")
    if wanted[-1] > decoded.last:
        raise ShortVideo(path, decoded.last + 1)
    return np.stack([decoded.frames[int(i)] for i in indices])


@dataclass
class _Decoded:
    """One decoding pass: RGB frames of the wanted indices, the first and last index decoded (-1:
    none) and the FFmpeg error that ended the pass early ("" if it ran to the clip's end or the file's)."""

    frames: Dict[int, np.ndarray]
    first: int = -1
    last: int = -1
    error: str = ""


class _Frame:
    """A decoded frame at ``index``, converted to RGB once and only when a wanted index takes it."""

    def __init__(self, frame, index: int):
        self.frame, self.index, self._rgb = frame, index, None

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self.frame.to_ndarray(format="rgb24")
        return self._rgb


def _decode_pyav(path: str, wanted: List[int], seek: bool) -> _Decoded:
    """Decode from the keyframe before wanted[0] (or the start) until wanted[-1] or the end.

    Every wanted index takes the last decoded frame at or before it: its own frame, or in a hole
    (an edit list or a variable frame rate leaves positions without a frame) the one shown there;
    an index before the first decoded frame takes that frame. An FFmpeg error ends the pass: the
    frames before it stand, and ``error`` says why it ended.
    """
    import av

    out, previous = _Decoded({}), None
    pending = iter(wanted)  # wanted indices, in order, not yet given a frame
    todo = next(pending)
    try:
        with av.open(path) as container:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            fps, tb = _stream_fps(stream, path), float(stream.time_base)
            start = stream.start_time or 0
            if seek:
                container.seek(int(math.floor(wanted[0] / fps / tb)) + start, stream=stream,
                               backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                current = _Frame(frame, int(round((frame.pts - start) * tb * fps)))
                if current.index < 0:  # dropped by an edit list
                    continue
                out.first = current.index if out.first < 0 else out.first
                out.last = max(out.last, current.index)
                while todo is not None and todo <= current.index:
                    own = todo == current.index or previous is None
                    out.frames[todo] = (current if own else previous).rgb()
                    todo = next(pending, None)
                if todo is None:
                    break
                previous = current
    except av.FFmpegError as e:
        out.error = f"{type(e).__name__}: {e}"
        logger.debug("%s: decoding stopped after index %d: %s", path, out.last, out.error)
    return out


# ----------------------------------------------------------------------------- torchcodec
def torchcodec_available() -> bool:
    """Whether the optional torchcodec backend can be imported."""
    try:
        import torchcodec.decoders  # noqa: F401
    except Exception:  # ImportError, or a missing FFmpeg shared library (RuntimeError/OSError)
        return False
    return True


def _read_torchcodec(path: str, indices: Sequence[int]) -> np.ndarray:
    """torchcodec in exact mode (it scans the file, so its frame count is the decodable one)."""
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as e:
        raise RuntimeError("DATA.DECODING_BACKEND = 'torchcodec' but torchcodec cannot be imported "
                           f"({e}); pip install torchcodec (needs FFmpeg libraries) or use 'pyav'") from e
    try:
        decoder = VideoDecoder(path, seek_mode="exact", dimension_order="NHWC", num_ffmpeg_threads=0)
        num = decoder.metadata.num_frames
        if max(indices) >= num:
            raise ShortVideo(path, num)
        batch = decoder.get_frames_at(indices=[int(i) for i in indices])
    except (RuntimeError, ValueError) as e:
        raise DecodeError(path, f"{type(e).__name__}: {e}") from e
    return batch.data.numpy()


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
        except OSError as e:
            raise DecodeError(file, f"{type(e).__name__}: {e}") from e
    return np.stack([frames[int(i)] for i in indices])
