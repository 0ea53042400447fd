"""Decoding only the frames a clip needs (DATA.SKIP_NONREF_FRAMES): frames that no other frame refers
to are skipped unless asked for. The frames returned, the ShortVideo counts and the errors must be
the same as decoding every frame, on files with and without B-frames, all-intra files, edit-list
trims (with holes), variable frame rates, VP9, and files cut short."""
import numpy as np
import pytest

from tests.videos import (
    index_frames,
    noisy_index_frames,
    nonref_frames,
    write_cut_in_keyframe,
    write_trimmed_mp4,
    write_truncated,
    write_video,
)
from timesformer.data import decoding
from timesformer.data.decoding import DecodeError, ShortVideo, count_frames, read_frames


def _read(path, request, skip):
    """Frames, or what was raised (ShortVideo with its count, DecodeError)."""
    try:
        return read_frames(path, request, skip_nonref=skip)
    except ShortVideo as e:
        return ("short", e.num_frames)
    except DecodeError:
        return ("error",)


def _requests(rng, num, count):
    """Training-like clips (8 frames at a random step and start), random sets, and the edges: the
    first frame, the last, and requests past the end."""
    out = [[0], [num - 1], list(range(num - 8, num)), [0, num // 2, num - 1], [num + 5], [num // 3, num + 20]]
    while len(out) < count:
        if rng.random() < 0.6:
            step = int(rng.integers(1, max(2, num // 8)))
            start = int(rng.integers(0, max(1, num - 7 * step)))
            out.append([min(start + k * step, num - 1) for k in range(8)])
        else:
            out.append(sorted(int(i) for i in rng.integers(0, num, size=int(rng.integers(1, 6)))))
    return out


def _assert_same(path, num, count=40, seed=0):
    rng = np.random.default_rng(seed)
    for request in _requests(rng, num, count):
        with_skip, without = _read(path, request, True), _read(path, request, False)
        if isinstance(without, tuple):
            assert with_skip == without, (path, request)
        else:
            assert isinstance(with_skip, np.ndarray) and np.array_equal(with_skip, without), (path, request)


FILES = {
    "bframes_one_keyframe": dict(name="b.mp4", bframes=3, gop=250),
    "bframes_gop24": dict(name="b24.mp4", bframes=3, gop=24),
    "bframes_1": dict(name="b1.mp4", bframes=1, gop=30),
    "no_bframes": dict(name="p.mp4", gop=250),
    "all_intra": dict(name="i.mp4", gop=1),
    "vp9": dict(name="v.webm", gop=30),
}


@pytest.mark.parametrize("kind", sorted(FILES))
def test_identical_frames_with_and_without_skipping(tmp_path, kind):
    spec = dict(FILES[kind])
    path = str(write_video(tmp_path / spec.pop("name"), frames=noisy_index_frames(200, 48, 64), **spec))
    _assert_same(path, 200)


def test_identical_frames_in_edit_list_trims_with_holes(tmp_path):
    # A stream-copied trim (edit list, first 30 frames cut) of a B-frame file, with some frames that
    # nothing refers to left out (holes showing the frame before them), as downloaded Kinetics trims.
    src = write_video(tmp_path / "full.mp4", frames=noisy_index_frames(220, 48, 64), bframes=3, gop=40)
    nonref = nonref_frames(src)
    assert len(nonref) > 50  # the file has non-reference B-frames to skip
    holes = [i for i in nonref if 100 <= i < 140][::2]
    trim = str(write_trimmed_mp4(src, tmp_path / "trim.mp4", drop_frames=30))
    holed = str(write_trimmed_mp4(src, tmp_path / "holes.mp4", drop_frames=30, omit=holes))
    _assert_same(trim, 190, seed=1)
    _assert_same(holed, 190, seed=2)
    for hole in holes:  # each hole position and the frames around it, alone and together
        k = hole - 30
        for request in ([k], [k - 1, k], [k, k + 1], [k - 2, k, k + 2]):
            assert np.array_equal(read_frames(holed, request), read_frames(holed, request, skip_nonref=False))


def test_identical_frames_with_a_variable_frame_rate(tmp_path):
    keep = list(range(60)) + list(range(100, 180))  # frames 60..99 missing: positions show frame 59
    path = str(write_video(tmp_path / "vfr.mp4", fps=30, frames=noisy_index_frames(180, 48, 64)[keep], pts=keep,
                           bframes=3, gop=50))
    _assert_same(path, 180, seed=3)


@pytest.mark.parametrize("keep", [0.35, 0.6, 0.85])
def test_identical_results_on_files_cut_short(tmp_path, keep):
    fast = write_video(tmp_path / "fast.mp4", frames=noisy_index_frames(200), bframes=3, gop=30, faststart=True)
    cut = str(write_truncated(fast, tmp_path / "cut.mp4", keep=keep))
    decodable = count_frames(cut)
    assert 0 < decodable < 200
    _assert_same(cut, 200, count=30, seed=4)
    assert _read(cut, [decodable - 1], True)[0].shape == (96, 128, 3)
    assert _read(cut, [decodable], True) == ("short", decodable)


def test_identical_results_when_a_download_is_cut_inside_a_keyframe(tmp_path):
    fast = write_video(tmp_path / "fast.mp4", frames=noisy_index_frames(200), bframes=3, gop=20, faststart=True)
    cut = str(write_cut_in_keyframe(fast, tmp_path / "cut.mp4", near=0.5))
    _assert_same(cut, 200, count=30, seed=5)


def test_skipping_decodes_fewer_frames_on_b_frame_files_only(tmp_path):
    # A training-like clip far from the only keyframe: every frame from 0 to the clip's end is
    # decoded without skipping; with skipping the non-reference B-frames not asked for are not.
    frames = index_frames(240)
    b = str(write_video(tmp_path / "b.mp4", frames=frames, bframes=3, gop=250))
    p = str(write_video(tmp_path / "p.mp4", frames=frames, gop=250))
    clip = list(range(10, 240, 32))

    def decoded(path, skip):
        before = decoding.frames_decoded()
        read_frames(path, clip, skip_nonref=skip)
        return decoding.frames_decoded() - before

    assert decoded(b, False) >= clip[-1] + 1
    assert decoded(b, True) < 0.7 * decoded(b, False)
    assert decoded(p, True) == decoded(p, False)  # no B-frames: nothing to skip, nothing lost
