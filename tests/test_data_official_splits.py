"""UCF101 and HMDB51 read from their official split files (DATA.OFFICIAL_SPLIT), errors naming the
file and line, and each dataset's config fine-tuning a (tiny) Kinetics checkpoint through
tools/run_net.py on real encoded files written in the official layouts."""
import json
from pathlib import Path

import pytest

from tests.checkpoints import tiny_checkpoint
from tests.conftest import ROOT, load_tool
from tests.videos import write_video
from timesformer.config import load_config
from timesformer.data import build_dataset, check_data_config
from timesformer.data.datasets import AnnotationError
from timesformer.errors import ConfigError

# ucfTrainTestlist/ as published: CRLF line ends, 1-based class indices, test lists without labels.
# The folder says HandstandPushups, the file names HandStandPushups (as in the real data set).
UCF = {
    "classInd.txt": "1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n",
    "trainlist01.txt": "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
                       "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n"
                       "HandstandPushups/v_HandStandPushups_g09_c01.avi 2\r\n",
    "testlist01.txt": "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n"
                      "HandstandPushups/v_HandStandPushups_g01_c01.avi\r\n",
    "trainlist02.txt": "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\r\n",
    "testlist02.txt": "HandstandPushups/v_HandStandPushups_g08_c01.avi\r\n",
}
# testTrainMulti_7030_splits/ as published: one file per class and split, "video id " per line
# (1 train, 2 test, 0 unused; a trailing space).
HMDB = {
    "brush_hair_test_split1.txt": "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 \n"
                                  "April_09_brush_hair_u_nm_np1_ba_goo_1.avi 2 \n"
                                  "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi 0 \n",
    "cartwheel_test_split1.txt": "Bodenturnen_2004_cartwheel_f_cm_np1_le_bad_0.avi 1 \n"
                                 "Bodenturnen_2004_cartwheel_f_cm_np1_le_bad_1.avi 1 \n"
                                 "(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0.avi 2 \n",
    "brush_hair_test_split2.txt": "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 2 \n",
    "cartwheel_test_split2.txt": "Bodenturnen_2004_cartwheel_f_cm_np1_le_bad_0.avi 1 \n",
}


def _write(folder: Path, files: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode())
    return folder


def _videos(prefix: Path, paths) -> None:
    for path in sorted(set(paths)):
        write_video(prefix / path, num_frames=20, width=40, height=32, fps=25)


def _cfg(dataset: str, root: Path, *opts):
    return load_config(None, ["TRAIN.DATASET", dataset, "TEST.DATASET", dataset, "DATA.PATH_TO_DATA_DIR",
                              str(root), "DATA.PATH_PREFIX", "/videos", *opts])


def test_ucf101_reads_the_official_split_files(tmp_path):
    root = _write(tmp_path, UCF)
    train = build_dataset(_cfg("ucf101", root), "train")
    assert train.class_names == ["ApplyEyeMakeup", "HandstandPushups"]
    assert [(r.path, r.label) for r in train.records] == [
        ("/videos/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0),
        ("/videos/HandstandPushups/v_HandStandPushups_g08_c01.avi", 1),
        ("/videos/HandstandPushups/v_HandStandPushups_g09_c01.avi", 1)]
    for split in ("val", "test"):  # no official validation list: val is the test list
        ds = build_dataset(_cfg("ucf101", root), split)
        assert [(r.name, r.label) for r in ds.records] == [
            ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", 0), ("HandstandPushups/v_HandStandPushups_g01_c01.avi", 1)]
    second = build_dataset(_cfg("ucf101", root, "DATA.OFFICIAL_SPLIT", "2"), "test")
    assert [r.label for r in second.records] == [1] and second.records[0].source.endswith("testlist02.txt:1")


def test_hmdb51_reads_the_official_split_files(tmp_path):
    root = _write(tmp_path, HMDB)
    train = build_dataset(_cfg("hmdb51", root), "train")
    assert train.class_names == ["brush_hair", "cartwheel"]
    assert [(r.path, r.label) for r in train.records] == [
        ("/videos/brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi", 0),
        ("/videos/cartwheel/Bodenturnen_2004_cartwheel_f_cm_np1_le_bad_0.avi", 1),
        ("/videos/cartwheel/Bodenturnen_2004_cartwheel_f_cm_np1_le_bad_1.avi", 1)]
    test = build_dataset(_cfg("hmdb51", root), "test")
    assert [(r.name, r.label) for r in test.records] == [
        ("brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_1.avi", 0),
        ("cartwheel/(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0.avi", 1)]
    assert [r.name for r in build_dataset(_cfg("hmdb51", root), "val").records] == [r.name for r in test.records]
    second = build_dataset(_cfg("hmdb51", root, "DATA.OFFICIAL_SPLIT", "2"), "test")
    assert [r.label for r in second.records] == [0]


@pytest.mark.parametrize("dataset, files, expected", [
    ("ucf101", {**UCF, "trainlist01.txt": "ApplyEyeMakeup/a.avi 1\r\nJuggling/v_Juggling_g01_c01.avi 3\r\n"},
     ["trainlist01.txt:2:", "'Juggling'", "classInd.txt"]),
    ("ucf101", {**UCF, "trainlist01.txt": "ApplyEyeMakeup/a.avi 1\nApplyEyeMakeup/b.avi 2\n"},
     ["trainlist01.txt:2:", "label 2", "HandstandPushups", "ApplyEyeMakeup"]),
    ("ucf101", {**UCF, "classInd.txt": "1 ApplyEyeMakeup\n3 HandstandPushups\n"},
     ["classInd.txt:2:", "expected 2"]),
    ("ucf101", {"classInd.txt": UCF["classInd.txt"]}, ["trainlist01.txt not found", "ucfTrainTestlist"]),
    ("hmdb51", {"brush_hair_test_split1.txt": "a.avi 1\nb.avi 3\n"}, ["brush_hair_test_split1.txt:2:", "'3'"]),
    ("hmdb51", {"brush_hair_test_split2.txt": "a.avi 1\n"},
     ["no *_test_split1.txt", "testTrainMulti_7030_splits"]),
])
def test_bad_split_files_name_the_file_and_line(tmp_path, dataset, files, expected):
    with pytest.raises(AnnotationError) as e:
        build_dataset(_cfg(dataset, _write(tmp_path, files)), "train")
    for part in expected:
        assert part in str(e.value)


def test_official_split_must_exist():
    with pytest.raises(ConfigError, match=r"DATA.OFFICIAL_SPLIT = 4.*1, 2 or 3"):
        check_data_config(load_config(None, ["DATA.OFFICIAL_SPLIT", "4", "TRAIN.DATASET", "ucf101"]))


# ----------------------------------------------------------------------------- the configs, end to end
TINY = ["MODEL.EMBED_DIM", "32", "MODEL.DEPTH", "1", "MODEL.NUM_HEADS", "2", "MODEL.PATCH_SIZE", "8",
        "DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32",
        "DATA.TRAIN_JITTER_SCALES", "[32, 40]", "NUM_GPUS", "0", "TRAIN.BATCH_SIZE", "2", "MODEL.NUM_CLASSES", "2",
        "TEST.BATCH_SIZE", "3", "SOLVER.MAX_EPOCH", "1", "TRAIN.EVAL_PERIOD", "1",
        "DATA_LOADER.NUM_WORKERS", "0", "LOG_PERIOD", "1"]


@pytest.mark.parametrize("config, files", [("UCF101/TimeSformer_divST_8x16_224.yaml", UCF),
                                           ("HMDB51/TimeSformer_divST_8x8_224.yaml", HMDB)])
def test_config_fine_tunes_a_kinetics_checkpoint_on_the_official_split(tmp_path, config, files):
    root = _write(tmp_path / "splits", files)
    dataset = load_config(str(ROOT / "configs" / config)).TRAIN.DATASET
    records = [r for split in ("train", "test") for r in build_dataset(_cfg(dataset, root), split).records]
    _videos(tmp_path / "videos", [r.name for r in records])
    kinetics = tiny_checkpoint(tmp_path / "k400.pyth")  # a 5-class "Kinetics" model of the same size
    out = tmp_path / "out"
    status = load_tool("run_net").main([
        "--cfg", str(ROOT / "configs" / config), *TINY, "DATA.PATH_TO_DATA_DIR", str(root),
        "DATA.PATH_PREFIX", str(tmp_path / "videos"), "TIMESFORMER.PRETRAINED_MODEL", str(kinetics),
        "OUTPUT_DIR", str(out)])
    assert status == 0
    results = json.loads((out / "test_results.json").read_text())
    test = build_dataset(_cfg(dataset, root), "test")
    assert results["num_videos"] == test.num_videos and results["num_views"] == 3 * test.num_videos
    assert [c["class"] for c in results["per_class"]] == test.class_names
    rows = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    assert [(r["video"], r["label"]) for r in rows] == [(r.name, r.label) for r in test.records]
    log = (out / "log.txt").read_text()
    assert str(kinetics) in log and "dropped: source has 5 classes" in log  # its head, for the new classes
