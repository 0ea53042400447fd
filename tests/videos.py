"""Tiny real video files for tests, encoded with PyAV (shared by every test that needs videos).

Every frame written by default carries its own index, readable back after lossy compression with
``frame_index(frame)``: the left half of the frame is grey ``16 * (i % 16) + 8`` and the right
half ``16 * (i // 16) + 8`` (indices 0..255). So a test can decode a clip and check which frames
came out.

    from tests.videos import write_video, write_truncated, write_jpeg_folder, frame_index
    path = write_video(tmp_path / "a.mp4", num_frames=60, fps=30, width=64, height=48, gop=250)
    write_video(tmp_path / "b.webm", num_frames=30, fps=15)           # VP9
    write_truncated(tmp_path / "a.mp4", tmp_path / "cut.mp4", keep=0.5)
    write_jpeg_folder(tmp_path / "frames", num_frames=20)              # 00001.jpg, 00002.jpg, ...
    keep = list(range(50)) + list(range(100, 150))                     # variable frame rate:
    write_video(tmp_path / "vfr.webm", frames=index_frames(150)[keep], pts=keep)  # 50..99 missing
    write_video(tmp_path / "fast.mp4", frames=noisy_index_frames(120), gop=10, faststart=True)
    write_cut_in_keyframe(tmp_path / "fast.mp4", tmp_path / "cut.mp4", near=0.3)  # a cut-off download
    write_video(tmp_path / "b.mp4", frames=noisy_index_frames(90), bframes=3)  # H.264 with B-frames
    write_two_property_set(tmp_path / "data", {"train": 48, "test": 16})  # a multi-label task
"""
import os
from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence, Union

import av
import numpy as np
from PIL import Image

PathLike = Union[str, os.PathLike]

# Container extension -> (codec, pixel format).
_CODECS = {".mp4": ("libx264", "yuv420p"), ".mkv": ("libx264", "yuv420p"),
           ".webm": ("libvpx-vp9", "yuv420p"), ".avi": ("mpeg4", "yuv420p")}


def index_frames(num_frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 whose index ``frame_index`` can read back (see module doc)."""
    if num_frames > 256:
        raise ValueError(f"index_frames encodes at most 256 frames, asked for {num_frames}")
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        frames[i, :, : width // 2] = 16 * (i % 16) + 8
        frames[i, :, width // 2:] = 16 * (i // 16) + 8
    return frames


def frame_index(frame) -> int:
    """Read back the index written by ``index_frames`` from one (H, W, 3) uint8 frame."""
    frame = np.asarray(frame)
    w = frame.shape[1]
    left = float(frame[:, : w // 2 - 2].mean())
    right = float(frame[:, w // 2 + 2:].mean())
    return int(round((right - 8) / 16)) * 16 + int(round((left - 8) / 16))


def write_video(path: PathLike, num_frames: int = 30, fps: Union[int, float, Fraction] = 30,
                width: int = 64, height: int = 48, gop: Optional[int] = None,
                frames: Optional[np.ndarray] = None, codec: Optional[str] = None,
                faststart: bool = False, pts: Optional[Sequence[int]] = None,
                bframes: Optional[int] = None) -> Path:
    """Encode ``frames`` (T, H, W, 3 uint8; default ``index_frames``) into ``path``; return it.

    The container and codec follow the extension: .mp4/.mkv H.264, .webm VP9, .avi MPEG-4.
    ``gop`` is the keyframe interval (None = the encoder's default; 250 gives one keyframe only).
    ``faststart`` puts the mp4 index first, so a truncated copy still opens (and decodes short).
    ``pts`` shows frame k at ``pts[k] / fps`` seconds (default k): gaps make a variable frame rate.
    ``bframes`` (H.264): up to that many B-frames between references (None: none, as ultrafast
    encodes), some of them non-reference frames, as in most downloaded videos.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if frames is None:
        frames = index_frames(num_frames, height, width)
    height, width = frames.shape[1:3]
    default_codec, pix_fmt = _CODECS[path.suffix.lower()]
    rate = Fraction(fps).limit_denominator(1001)
    container_options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=container_options) as container:
        stream = container.add_stream(codec or default_codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        options = {}
        if gop is not None:
            stream.codec_context.gop_size = gop
            if stream.codec_context.name == "libx264":
                options = {"keyint_min": str(gop), "sc_threshold": "0"}
        if stream.codec_context.name == "libvpx-vp9":
            options.update({"deadline": "realtime", "cpu-used": "8"})
        if stream.codec_context.name == "libx264":
            options.update({"preset": "ultrafast"})
            if bframes is not None:
                options.update({"bf": str(bframes), "b-adapt": "0"})
        stream.options = options
        if pts is not None:
            stream.codec_context.time_base = 1 / rate
        for k, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            if pts is not None:
                picture.pts, picture.time_base = int(pts[k]), 1 / rate
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_truncated(src: PathLike, dst: PathLike, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` fraction of the bytes of ``src`` to ``dst`` (a cut-off download).

    An mp4 written without ``faststart`` then fails to open; with it, it opens and decodes short.
    """
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def write_jpeg_folder(folder: PathLike, num_frames: int = 20, width: int = 64, height: int = 48,
                      name_format: str = "{:05d}.jpg", start: int = 1,
                      frames: Optional[np.ndarray] = None) -> Path:
    """Write frames (default ``index_frames``) as JPEG files ``name_format.format(start + i)``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if frames is None:
        frames = index_frames(num_frames, height, width)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / name_format.format(start + i), quality=95)
    return folder


def write_trimmed_mp4(src: PathLike, dst: PathLike, drop_frames: int, omit: Sequence[int] = ()) -> Path:
    """Stream-copy ``src`` (H.264 mp4) so its first ``drop_frames`` frames get negative timestamps.

    The mp4 muxer then writes an edit list: the header still counts every frame while only the
    later ones decode, as in downloaded, stream-copied Kinetics trims. The packets of
    source frames ``omit`` are left out, a hole in time; only frames that no later frame refers to
    may go (the end of a GOP of ``write_video(..., gop=g)``), so every other frame still decodes.
    """
    dst = Path(dst)
    with av.open(str(src)) as inp, av.open(str(dst), mode="w") as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        shift = None
        for packet in inp.demux(in_stream):
            if packet.dts is None:
                continue
            if shift is None:
                shift = int(drop_frames / in_stream.average_rate / in_stream.time_base)
                frame_ticks = 1 / in_stream.average_rate / in_stream.time_base
            if int(round(packet.pts / frame_ticks)) in omit:
                continue
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = out_stream
            out.mux(packet)
    return dst


def noisy_index_frames(num_frames: int, height: int = 96, width: int = 128, noise: int = 6,
                       seed: int = 0) -> np.ndarray:
    """``index_frames`` plus a little random texture: packets as large as real video's, so a cut
    lands inside a frame the way it does in a real download (``frame_index`` still reads them)."""
    rng = np.random.default_rng(seed)
    frames = index_frames(num_frames, height, width).astype(np.int16)
    frames += rng.integers(-noise, noise + 1, frames.shape, dtype=np.int16)
    return np.clip(frames, 0, 255).astype(np.uint8)


def write_cut_in_keyframe(src: PathLike, dst: PathLike, near: float) -> Path:
    """Copy ``src`` up to the middle of the keyframe packet that starts nearest ``near`` of its bytes.

    A download cut there still opens (with a faststart mp4), but a seek to that keyframe lands on a
    packet that ends early, which FFmpeg reports as invalid data.
    """
    data = Path(src).read_bytes()
    with av.open(str(src)) as container:
        keys = [(p.pos, p.size) for p in container.demux(video=0) if p.is_keyframe and p.pos is not None]
    pos, size = min(keys, key=lambda k: abs(k[0] - near * len(data)))
    dst = Path(dst)
    dst.write_bytes(data[: pos + size // 2])
    return dst


def nonref_frames(path: PathLike) -> list:
    """Indices of the frames that no other frame refers to (the decoder leaves them out when told to
    skip non-reference frames): the frames a B-frame file can lose without harm to the others."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        every = [round(float(f.pts * f.time_base * stream.average_rate)) for f in container.decode(stream)]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        kept = {round(float(f.pts * f.time_base * stream.average_rate)) for f in container.decode(stream)}
    return [i for i in every if i not in kept]


# The two independent properties of write_two_property_set's clips, each a pair of class names.
PROPERTIES = (("bright", "dark"), ("red", "blue"))


def two_property_frames(bright: bool, red: bool, rng: np.random.Generator, num_frames: int = 16,
                        size: int = 32) -> np.ndarray:
    """Frames (T, S, S, 3) uint8 of a noisy texture, bright or dark, tinted red or blue."""
    level = 170.0 if bright else 80.0
    tint = np.array([40.0, 0.0, -40.0]) * (1 if red else -1)  # R, G, B
    texture = rng.uniform(-25, 25, size=(num_frames, size, size, 1))
    return np.clip(level + tint + texture, 0, 255).astype(np.uint8)


def write_two_property_set(root: PathLike, counts: dict, sep: str = " ", seed: int = 0) -> Path:
    """A multi-label video_list data set: ``{split}.csv`` (``counts``: videos per split) listing real
    mp4 clips with two labels each, one of every pair of PROPERTIES, written as class names
    separated by commas (``videos/train_0003.mp4 dark,red``), and ``classnames.txt`` (the four
    names, sorted). The two properties are independent and balanced."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        lines = []
        for k in range(count):
            bright, red = bool(k % 2), bool((k // 2) % 2)
            name = f"videos/{split}_{k:04d}.mp4"
            write_video(root / name, frames=two_property_frames(bright, red, rng))
            labels = [PROPERTIES[0][not bright], PROPERTIES[1][not red]]
            lines.append(f"{name}{sep}{','.join(labels)}\n")
        (root / f"{split}.csv").write_text("".join(lines))
    (root / "classnames.txt").write_text("".join(f"{name}\n" for name in sorted(sum(PROPERTIES, ()))))
    return root
