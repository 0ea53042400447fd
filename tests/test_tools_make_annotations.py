"""tools/make_annotations.py on real folder trees of encoded videos and frame folders: the files it
writes, the stratified deterministic split, --scan, and that the video_list dataset reads the result."""
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_tool
from tests.videos import write_jpeg_folder, write_video
from timesformer.config import get_cfg, merge_opts
from timesformer.data.annotate import split_counts
from timesformer.data.build import build_dataset

make_annotations = load_tool("make_annotations")
check_videos = load_tool("check_videos")

# class folder -> videos; "run fast" has a space (as Kinetics' names do), "sit" one video, "wave" two.
TREE = {"jump": 10, "run fast": 3, "sit": 1, "wave": 2}


def write_tree(root: Path, tree=None) -> Path:
    """ROOT/<class>/<video>: mp4 and webm files; for TREE also a frame folder and files that are no videos."""
    for name, count in (tree or TREE).items():
        for i in range(count):
            write_video(root / name / f"{name[:2]}{i:02d}{'.webm' if i % 3 == 2 else '.mp4'}", num_frames=12)
    if tree:
        return root
    write_jpeg_folder(root / "jump" / "session2" / "frames07", num_frames=12)  # deeper down: still found
    (root / "jump" / "notes.txt").write_text("not a video\n")
    (root / "README").write_text("a file beside the class folders\n")
    return root


def lines(path: Path) -> list:
    return path.read_text().splitlines()


def test_the_real_tool_writes_stratified_files_that_the_video_list_dataset_reads(tmp_path):
    root = write_tree(tmp_path / "clips")
    (root / "jump" / "broken.mp4").write_bytes(b"not an mp4 at all")
    (root / "zzz").mkdir()
    (root / "zzz" / "only.webm").write_bytes(b"\x1aE\xdf\xa3 cut off")  # a class of unreadable videos
    out = tmp_path / "lists"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_annotations.py"), str(root), "--out", str(out),
                           "--scan"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert f"UNREADABLE {root / 'jump' / 'broken.mp4'}" in text and "2 unreadable" in text
    assert "no readable video, left out of the classes: zzz" in text
    assert f"DATA.PATH_PREFIX {root}" in text
    assert lines(out / "classnames.txt") == ["jump", "run fast", "sit", "wave"]
    splits = {s: [line.rsplit(",", 1) for line in lines(out / f"{s}.csv")] for s in ("train", "val", "test")}
    every = [path for rows in splits.values() for path, _ in rows]
    assert len(every) == len(set(every)) == 17 and "jump/broken.mp4" not in every  # 16 files + 1 frame folder
    assert "jump/session2/frames07" in every and not any(p.endswith(".txt") or p.startswith("/") for p in every)
    for rows in splits.values():
        assert all(path.split("/")[0] == label for path, label in rows)  # labelled by the class folder

    def count(split: str, name: str) -> int:
        return sum(label == name for _, label in splits[split])

    # 11 jump videos: 1 val, 1 test (10% rounded, at least one); 3 run fast: one each; sit train only.
    assert [[count(s, c) for s in ("train", "val", "test")] for c in TREE] == [[9, 1, 1], [1, 1, 1], [1, 0, 0],
                                                                                [1, 1, 0]]
    assert "2 class(es) with too few videos for every split, train/val/test: sit (1/0/0), wave (1/1/0)" in text

    # The overrides it prints make run_net's datasets read the files: labels by class name, clips decode.
    opts = shlex.split(text.split("run_net overrides: ", 1)[1].splitlines()[0])
    cfg = get_cfg()
    merge_opts(cfg, [*opts, "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32",
                     "DATA.TEST_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES", "[32, 40]"])
    assert cfg.DATA.PATH_LABEL_SEPARATOR == "," and cfg.MODEL.NUM_CLASSES == 4
    for split in ("train", "val", "test"):
        dataset = build_dataset(cfg, split)
        assert len(dataset.records) == len(splits[split]) and dataset.class_names == lines(out / "classnames.txt")
        labels = sorted(dataset.class_names.index(label) for _, label in splits[split])
        assert sorted(r.label for r in dataset.records) == labels
    train = build_dataset(cfg, "train")
    frames_folder = next(i for i, r in enumerate(train.records) if r.path.endswith("frames07"))
    assert train[frames_folder]["frames"].shape[-3:] == (4, 32, 32)


def test_the_split_is_the_same_for_a_seed_and_each_class_keeps_its_own(tmp_path, capsys):
    root = write_tree(tmp_path / "clips", {"a": 12, "b": 9})

    def split(out: str, *extra: str) -> dict:
        assert make_annotations.main([str(root), "--out", str(tmp_path / out), *extra]) == 0
        return {s: lines(tmp_path / out / f"{s}.csv") for s in ("train", "val", "test")}

    first, again, other = split("one"), split("two"), split("three", "--seed", "7")
    assert first == again and first != other
    assert [len(first[s]) for s in ("train", "val", "test")] == [17, 2, 2]  # 12: 10/1/1, 9: 7/1/1
    bigger = split("four", "--val", "0.25", "--test", "0.25")
    assert [len(bigger[s]) for s in ("train", "val", "test")] == [11, 5, 5]  # 12: 6/3/3, 9: 5/2/2 (2.25 -> 2)
    for i in range(12, 16):  # more videos of class a: class b's split stays as it was
        write_video(root / "a" / f"new{i}.mp4", num_frames=8)
    grown = split("five")
    assert {s: [x for x in grown[s] if x.endswith(",b")] for s in grown} == \
           {s: [x for x in first[s] if x.endswith(",b")] for s in first}
    capsys.readouterr()


@pytest.mark.parametrize("n, val, test, counts", [(1, 0.1, 0.1, (1, 0, 0)), (2, 0.1, 0.1, (1, 1, 0)),
                                                  (3, 0.1, 0.1, (1, 1, 1)), (10, 0.1, 0.1, (8, 1, 1)),
                                                  (20, 0.1, 0.1, (16, 2, 2)), (5, 0.1, 0.1, (3, 1, 1)),
                                                  (10, 0.45, 0.45, (1, 5, 4)), (7, 0.0, 0.2, (6, 0, 1))])
def test_split_counts_keep_a_training_video_in_every_class(n, val, test, counts):
    assert split_counts(n, val, test) == counts


def test_no_val_fraction_writes_no_val_file_and_says_how_to_train_without_it(tmp_path, capsys):
    root = write_tree(tmp_path / "clips", {"a": 4, "b": 4})
    out = tmp_path / "lists"
    out.mkdir()
    (out / "val.csv").write_text("stale.mp4,a\n")  # from an earlier run
    assert make_annotations.main([str(root), "--out", str(out), "--val", "0"]) == 0
    text = capsys.readouterr().out
    assert not (out / "val.csv").exists() and "val: no videos, no val.csv written" in text
    assert "TRAIN.EVAL_PERIOD 0" in text and len(lines(out / "train.csv")) == 6


@pytest.mark.parametrize("make, argv, message", [
    (lambda root: write_video(root / "a,b" / "v.mp4"), [], "'a,b' holds a comma"),
    (lambda root: write_jpeg_folder(root / "a"), [], "holds image frames itself"),
    (lambda root: (root / "a").mkdir(parents=True), [], "no class folder holds a video"),
    (lambda root: write_video(root / "a" / "v.mp4"), ["--val", "0.6", "--test", "0.5"], "val + test below 1"),
    (lambda root: write_video(root / "a" / "v.mp4"), ["--val", "1.5"], "--val: '1.5': expected a fraction"),
])
def test_unusable_trees_and_fractions_are_one_error_line(tmp_path, capsys, make, argv, message):
    make(tmp_path / "clips")
    assert make_annotations.main([str(tmp_path / "clips"), "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_check_videos_finds_the_frame_folders_in_a_folder(tmp_path, capsys):
    """A folder of frame folders (SSv2's extracted frames) holds videos: check_videos checks each;
    a linked folder is searched once (a link back up the tree does not loop)."""
    for name in ("101", "102"):
        write_jpeg_folder(tmp_path / "frames" / name, num_frames=6)
    (tmp_path / "frames" / "up").symlink_to(tmp_path / "frames")
    assert check_videos.main([str(tmp_path / "frames")]) == 0
    assert "checked 2 videos" in capsys.readouterr().out
