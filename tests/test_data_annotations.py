"""Annotation errors name the file and the line (CSV, JSON syntax) or the entry (JSON, counted
from 0); the tools that read annotations print them as one ``error:`` line."""
import json
import os

import pytest

from tests.conftest import load_tool
from timesformer.config import load_config
from timesformer.data import build_dataset
from timesformer.data.datasets import AnnotationError

SSV2_LABELS = "something-something-v2-labels.json"
SSV2_TRAIN = "something-something-v2-train.json"
DIVING = "Diving48_V2_train.json"


def _cfg(root, dataset, *opts):
    return load_config(None, ["TRAIN.DATASET", dataset, "TEST.DATASET", dataset, "DATA.PATH_TO_DATA_DIR",
                              str(root), "MODEL.NUM_CLASSES", "3", "DATA.RANDOM_FLIP", str(dataset != "ssv2"),
                              *opts])


def _error(root, dataset, split="train") -> str:
    with pytest.raises(AnnotationError) as e:
        build_dataset(_cfg(root, dataset), split)
    return str(e.value)


# ----------------------------------------------------------------------------- labels out of range
@pytest.mark.parametrize("dataset, files, where", [
    ("kinetics", {"train.csv": "a.mp4 0\nb.mp4 1\n\nc.mp4 7\n"}, "train.csv:4: label 7 of c.mp4"),
    ("howto100m", {"train.csv": "a.mp4 0 12.5\nb.mp4 -1 3.0\n"}, "train.csv:2: label -1 of b.mp4"),
    ("video_list", {"train.csv": "a.mp4 cat\nb.mp4 5\n", "classnames.txt": "cat\ndog\nfox\n"},
     "train.csv:2: label 5 of b.mp4"),
    ("diving48", {DIVING: json.dumps([{"vid_name": "a", "label": 0}, {"vid_name": "b", "label": 48}])},
     f"{DIVING}: entry 1: label 48 of b"),
])
def test_out_of_range_labels_name_the_annotation_file_and_line(tmp_path, dataset, files, where):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    message = _error(tmp_path, dataset)
    assert os.path.join(str(tmp_path), where) in message and "outside 0..2" in message
    assert "MODEL.NUM_CLASSES" in message or "classnames.txt" in message


# ----------------------------------------------------------------------------- SSv2
LABELS = {"Pushing something": "0", "Pulling something": "1", "Moving something up": "2"}


def _ssv2(root, labels=None, entries=None, labels_text=None, entries_text=None):
    (root / SSV2_LABELS).write_text(labels_text if labels_text is not None else json.dumps(labels or LABELS, indent=1))
    entries = entries if entries is not None else [{"id": "1", "template": "Pulling [something]"}]
    (root / SSV2_TRAIN).write_text(entries_text if entries_text is not None else json.dumps(entries))


@pytest.mark.parametrize("labels_text, expected", [
    ('{\n "Pushing something": "0",\n "Pulling something": \n}', f"{SSV2_LABELS}:4:"),  # line 4, column 1
    ('["Pushing something"]', f"{SSV2_LABELS}: expected an object"),
    ('{"Pushing something": "0", "Pulling something": "one"}',
     f"{SSV2_LABELS}: entry 1 ('Pulling something'): index 'one'"),
    ('{"Pushing something": "0", "Pulling something": 1.5}',
     f"{SSV2_LABELS}: entry 1 ('Pulling something'): index 1.5"),
    ('{"Pushing something": "0", "Pulling something": true}',
     f"{SSV2_LABELS}: entry 1 ('Pulling something'): index True"),
    ('{"Pushing something": "0", "Pulling something": "0"}',
     f"{SSV2_LABELS}: entry 1 ('Pulling something'): index 0 is also"),
    ('{"Pushing something": "0", "Pulling something": "2"}',
     f"{SSV2_LABELS}: entry 1 ('Pulling something'): index 2 is outside 0..1"),
    ('{"Pushing something": "0", "Pushing something": "1"}',
     f"{SSV2_LABELS}: entry 1: template 'Pushing something' is also entry 0"),
])
def test_ssv2_labels_json_is_validated(tmp_path, labels_text, expected):
    _ssv2(tmp_path, labels_text=labels_text)
    message = _error(tmp_path, "ssv2")
    assert os.path.join(str(tmp_path), expected) in message


@pytest.mark.parametrize("entries, expected", [
    ([{"id": "1", "template": "Pulling [something]"}, {"id": "2"}], "entry 1 (video 2) lacks 'template'"),
    ([{"template": "Pulling [something]"}], "entry 0 lacks 'id'"),
    (["12345"], "entry 0 is '12345', not an object"),
    ({"id": "1"}, "expected a list"),
    ([{"id": "1", "template": "Pulling [something]"}, {"id": "7", "template": "Dancing"}],
     f"entry 1 (video 7) has template 'Dancing', which is not in {SSV2_LABELS}"),
])
def test_ssv2_split_entries_name_the_entry(tmp_path, entries, expected):
    _ssv2(tmp_path, entries=entries)
    assert f"{os.path.join(str(tmp_path), SSV2_TRAIN)}: {expected}" in _error(tmp_path, "ssv2")


def test_invalid_json_names_the_file_and_line(tmp_path):
    _ssv2(tmp_path, entries_text='[\n {"id": "1", "template": "Pulling [something]"},\n {"id": "2",\n]')
    message = _error(tmp_path, "ssv2")
    assert message.startswith(f"{os.path.join(str(tmp_path), SSV2_TRAIN)}:4:") and "not valid JSON" in message
    (tmp_path / DIVING).write_text('[{"vid_name": "a", "label": 0}\n{"vid_name": "b", "label": 1}]')
    assert f"{os.path.join(str(tmp_path), DIVING)}:2:" in _error(tmp_path, "diving48")
    (tmp_path / DIVING).write_text(json.dumps([{"vid_name": "a", "label": 0}]))
    (tmp_path / "Diving48_vocab.json").write_text('[["Back", "15som"],\n ["Back" "PIKE"]]')
    assert f"{os.path.join(str(tmp_path), 'Diving48_vocab.json')}:2:" in _error(tmp_path, "diving48")


# ----------------------------------------------------------------------------- other files
@pytest.mark.parametrize("entry, expected", [
    ({"vid_name": "b", "label": "2"}, "entry 1 (b): label '2' is not an integer"),
    ({"vid_name": "b", "label": 1.5}, "entry 1 (b): label 1.5 is not an integer"),
    ({"vid_name": "b"}, "entry 1 lacks 'vid_name' or 'label'"),
])
def test_diving48_entries_name_the_entry(tmp_path, entry, expected):
    (tmp_path / DIVING).write_text(json.dumps([{"vid_name": "a", "label": 0}, entry]))
    assert f"{os.path.join(str(tmp_path), DIVING)}: {expected}" in _error(tmp_path, "diving48")


def test_diving48_vocab_entries_are_lists(tmp_path):
    (tmp_path / DIVING).write_text(json.dumps([{"vid_name": "a", "label": 0}]))
    (tmp_path / "Diving48_vocab.json").write_text(json.dumps([["Back", "PIKE"], "Forward"]))
    assert "Diving48_vocab.json: entry 1 is 'Forward', not a list" in _error(tmp_path, "diving48")


def test_video_list_class_names_are_unique(tmp_path):
    (tmp_path / "train.csv").write_text("a.mp4 cat\n")
    (tmp_path / "classnames.txt").write_text("cat\ndog\n\ncat\n")
    assert f"{os.path.join(str(tmp_path), 'classnames.txt')}:4: class name 'cat' is also on line 1" in \
        _error(tmp_path, "video_list")


# ----------------------------------------------------------------------------- tools
def test_tools_print_an_annotation_error_as_one_line(tmp_path, capsys):
    _ssv2(tmp_path, entries=[{"id": "1", "template": "Pulling [something]"}, {"id": "2"}])
    opts = ["TRAIN.DATASET", "ssv2", "TEST.DATASET", "ssv2", "DATA.RANDOM_FLIP", "False", "MODEL.NUM_CLASSES", "3",
            "DATA.PATH_TO_DATA_DIR", str(tmp_path)]
    expected = f"error: {os.path.join(str(tmp_path), SSV2_TRAIN)}: entry 1 (video 2) lacks 'template'"
    assert load_tool("check_videos").main(opts) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and len(err.strip().splitlines()) == 1
    run_net = load_tool("run_net")
    tiny = ["MODEL.EMBED_DIM", "32", "MODEL.DEPTH", "1", "MODEL.NUM_HEADS", "2", "MODEL.PATCH_SIZE", "8",
            "DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32",
            "DATA.TRAIN_JITTER_SCALES", "[32, 40]", "OUTPUT_DIR", str(tmp_path / "out")]
    config = tmp_path / "c.yaml"
    config.write_text("TRAIN:\n  BATCH_SIZE: 2\n")
    assert run_net.main(["--cfg", str(config), *opts, *tiny]) == 2  # a bad annotation: the user's to fix
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
