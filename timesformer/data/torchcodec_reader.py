"""The optional torchcodec backend (DATA.DECODING_BACKEND torchcodec), on the CPU or on a GPU's video
decoder (DATA.DECODING_DEVICE cuda, NVDEC).

torchcodec installs from PyPI but needs FFmpeg's shared libraries on the machine (PyAV's wheels bring
their own, torchcodec's do not) and, for ``cuda``, a CUDA build of torch and an NVIDIA GPU. Whether
it works here is found by decoding a tiny clip made on the spot (``problem``), so a setting that
cannot work stops the run with the reason before any video is read, instead of turning every video
into a "bad file". A codec the GPU's decoder does not support is decoded on the CPU by torchcodec
itself; the first such file is named in a warning.
"""
import functools
import io
import logging
from typing import Optional, Sequence, Tuple

import numpy as np

logger = logging.getLogger(__name__)
DEVICES = ("cpu", "cuda")  # DATA.DECODING_DEVICE; "cuda" means this process's current GPU
_warned_fallback = {"done": False}


class TorchcodecReadError(RuntimeError):
    """torchcodec could not read one file (the caller names it as a bad video)."""


@functools.lru_cache(maxsize=None)
def _probe_clip() -> bytes:
    """A 4-frame 64x64 H.264 mp4 in memory, to try the decoder on."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for k in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 60 * k, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".strip()


@functools.lru_cache(maxsize=None)
def problem(device: str = "cpu") -> str:
    """Why torchcodec cannot decode on ``device`` here ("" when it can), with the fix."""
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as e:  # ImportError, or an incompatible build (RuntimeError/OSError)
        return f"torchcodec cannot be imported ({_first_line(e)}); pip install torchcodec, or use 'pyav'"
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            return (f"DATA.DECODING_DEVICE {device!r} needs a CUDA GPU, and torch sees none here "
                    "(torch.cuda.is_available() is False); use DATA.DECODING_DEVICE cpu")
    try:
        frame = VideoDecoder(_probe_clip(), device=device).get_frame_at(0)
        frame.data.cpu()
    except Exception as e:  # torchcodec raises RuntimeError for a missing FFmpeg and for CUDA problems
        return (f"torchcodec cannot decode on {device!r} here ({_first_line(e)}). It needs FFmpeg's "
                "shared libraries (e.g. apt install ffmpeg, or conda install ffmpeg)"
                + (" and a CUDA build of torch and torchcodec" if device != "cpu" else "")
                + "; or use DATA.DECODING_BACKEND pyav, which brings its own FFmpeg")
    return ""


def read(path: str, indices: Sequence[int], device: str = "cpu") -> Tuple[Optional[np.ndarray], int]:
    """(frames (T, H, W, 3) uint8 RGB at ``indices``, or None if one lies past the end; the number of
    frames). Exact mode scans the file, so the count is the decodable one, not the header's."""
    reason = problem(device)
    if reason:  # a setting that cannot work: stop, do not count the file as bad
        raise RuntimeError(f"DATA.DECODING_BACKEND torchcodec: {reason}")
    from torchcodec.decoders import VideoDecoder

    try:
        decoder = VideoDecoder(path, seek_mode="exact", dimension_order="NHWC", device=device,
                               num_ffmpeg_threads=0 if device == "cpu" else 1)
        num = decoder.metadata.num_frames
        if max(indices) >= num:
            return None, num
        batch = decoder.get_frames_at(indices=[int(i) for i in indices])
    except (RuntimeError, ValueError) as e:
        raise TorchcodecReadError(f"{type(e).__name__}: {e}") from e
    if device != "cpu":
        _warn_cpu_fallback(decoder, path)
    return batch.data.cpu().numpy(), num


def _warn_cpu_fallback(decoder, path: str) -> None:
    """Name the first file the GPU's decoder left to the CPU (its codec, size or profile is not
    supported there): such files decode correctly, only slower."""
    status = getattr(decoder, "cpu_fallback", None)
    if status and not _warned_fallback["done"]:
        _warned_fallback["done"] = True
        logger.warning("torchcodec decodes %s on the CPU, not the GPU (%s); later such files are not "
                       "listed", path, status)
