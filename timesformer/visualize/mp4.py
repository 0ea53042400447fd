"""Writing frames as an H.264 MP4, streamed and atomically: the attention animations
(``overlay.save_animation``) and the labelled timeline video (``timeline_video``) share it."""
from fractions import Fraction
from typing import Iterable, Tuple

import numpy as np

from timesformer.utils.files import atomic_open


def output_size(height: int, width: int, max_side: int) -> Tuple[int, int]:
    """(H, W) scaled so the longer side is at most ``max_side``, before the padding to even numbers
    that yuv420p needs (``write_mp4``)."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def write_mp4(frames: Iterable[np.ndarray], path: str, fps: float) -> int:
    """Frames (H, W, 3) uint8 of one size, one at a time -> ``path``, H.264 at ``fps`` (a fraction such
    as 30000/1001 is kept), padded by repeating the last row/column to even sizes; written to a
    temporary file renamed over ``path`` at the end. Returns the number of frames."""
    import av  # only needed for MP4 output

    count, stream = 0, None
    with atomic_open(path, "wb") as f, av.open(f, mode="w", format="mp4") as container:
        for frame in frames:
            h, w = frame.shape[:2]
            if stream is None:
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.height, stream.width = h + h % 2, w + w % 2
                stream.pix_fmt, stream.options = "yuv420p", {"preset": "veryfast", "crf": "20"}
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            count += 1
        if stream is not None:
            container.mux(stream.encode())
    return count
