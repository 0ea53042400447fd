"""Config loading: _BASE_ inheritance, overrides, and errors that say what to fix."""
import pytest

from timesformer.config import ConfigError, get_cfg, load_config
from timesformer.engine import check_config
from timesformer.models import build_model


def write(path, text):
    path.write_text(text)
    return str(path)


def test_defaults_are_the_paper_model():
    cfg = get_cfg()
    assert cfg.TIMESFORMER.ATTENTION_TYPE == "divided_space_time"
    assert (cfg.MODEL.ARCH, cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE) == ("vit_base_patch16", 8, 224)


def test_base_inheritance_and_overrides(tmp_path):
    write(tmp_path / "base.yaml", "MODEL:\n  NUM_CLASSES: 174\nDATA:\n  NUM_FRAMES: 16\n")
    child = write(tmp_path / "child.yaml", "_BASE_: base.yaml\nTIMESFORMER:\n  ATTENTION_TYPE: axial\n")
    cfg = load_config(child, ["DATA.NUM_FRAMES", "4", "MODEL.EMBED_DIM", "32", "MODEL.NUM_HEADS", "2",
                              "MODEL.DEPTH", "1", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "48"])
    assert (cfg.MODEL.NUM_CLASSES, cfg.DATA.NUM_FRAMES, cfg.TIMESFORMER.ATTENTION_TYPE) == (174, 4, "axial")
    assert cfg.is_frozen()
    model = build_model(cfg)
    assert model.model.scheme.name == "axial" and model.model.head.out_features == 174


@pytest.mark.parametrize("opts,match", [
    (["TIMESFORMER.ATTENTION_TYP", "axial"], "unknown config key TIMESFORMER.ATTENTION_TYP.*ATTENTION_TYPE"),
    (["DATA.NUM_FRAMES", "eight"], "DATA.NUM_FRAMES"),
    (["TIMESFORMER.ATTENTION_TYPE", "divided"], "TIMESFORMER.ATTENTION_TYPE = 'divided'.*divided_space_time"),
    (["DATA.TRAIN_CROP_SIZE", "230"], "DATA.TRAIN_CROP_SIZE = 230.*multiple of the patch size 16"),
    (["TIMESFORMER.ATTENTION_TYPE", "sparse_local_global", "DATA.NUM_FRAMES", "5"], "must all be even"),
    (["MODEL.ARCH", "vit_huge"], "MODEL.ARCH.*vit_base_patch16"),
    (["MODEL.EMBED_DIM", "100"], "MODEL.EMBED_DIM = 100.*multiple of MODEL.NUM_HEADS"),
    (["MODEL.DROP_PATH_RATE", "1.5"], "MODEL.DROP_PATH_RATE"),
    (["DATA.NUM_FRAMES"], "KEY VALUE pairs"),
    (["SOLVER.OPTIMIZING_METHOD", "adam"], "SOLVER.OPTIMIZING_METHOD = 'adam'.*adamw"),  # engine keys too
    (["TRAIN.DATASET", "kinetic"], "TRAIN.DATASET"),  # data keys
    (["TRAIN.CHECKPOINT_KEEP_LAST", "-1"], "TRAIN.CHECKPOINT_KEEP_LAST"),  # checkpoint keys
])
def test_bad_values_are_named(opts, match):
    with pytest.raises(ConfigError, match=match):
        check_config(load_config(None, opts))


def test_bad_file_names_the_file(tmp_path):
    bad = write(tmp_path / "bad.yaml", "MODEL:\n  NUM_CLASES: 10\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key MODEL.NUM_CLASES.*NUM_CLASSES"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.yaml"))


def test_yaml_is_loaded_safely(tmp_path):
    evil = write(tmp_path / "evil.yaml", "MODEL: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match=r"evil.yaml, line 1.*safe"):
        load_config(evil)


def test_an_integer_is_accepted_for_a_float_key(tmp_path):
    cfg = load_config(None, ["SOLVER.BASE_LR", "1", "SOLVER.WARMUP_EPOCHS", "2"])
    assert cfg.SOLVER.BASE_LR == 1.0 and type(cfg.SOLVER.BASE_LR) is float
    assert type(cfg.SOLVER.WARMUP_EPOCHS) is float
    exp = write(tmp_path / "exp.yaml", "SOLVER:\n  BASE_LR: 1\n  WEIGHT_DECAY: 0\n")
    cfg = load_config(exp)
    assert (cfg.SOLVER.BASE_LR, type(cfg.SOLVER.WEIGHT_DECAY)) == (1.0, float)
    with pytest.raises(ConfigError, match=r"DATA.NUM_FRAMES = 8.5 is a float; expected an int"):
        load_config(None, ["DATA.NUM_FRAMES", "8.5"])  # the other way round stays an error
    with pytest.raises(ConfigError, match=r"SOLVER.BASE_LR = True is a bool; expected a float"):
        load_config(None, ["SOLVER.BASE_LR", "True"])


def test_the_documented_names_are_the_ones_the_code_implements():
    """Each list of names in config/defaults.py (checked by load_config) is the one its reader has."""
    from timesformer.config import defaults
    from timesformer.data import DATASETS, decoding, torchcodec_reader
    from timesformer.engine.evaluator import ENSEMBLE_METHODS
    from timesformer.models import PRESETS, SCHEMES
    from timesformer.solver import METHODS, POLICIES
    from timesformer.utils.amp import PRECISIONS

    assert tuple(SCHEMES) == defaults.ATTENTION_TYPES
    assert tuple(defaults.ARCHS) == tuple(PRESETS)
    assert tuple(sorted(DATASETS)) == defaults.DATASETS
    assert defaults.DECODING_BACKENDS == decoding.BACKENDS
    assert defaults.DECODING_DEVICES == torchcodec_reader.DEVICES
    assert tuple(PRECISIONS) == defaults.PRECISIONS
    assert (defaults.OPTIMIZING_METHODS, defaults.LR_POLICIES) == (METHODS, POLICIES)
    assert defaults.ENSEMBLE_METHODS == ENSEMBLE_METHODS
    cfg = get_cfg()
    for key, names in defaults.CHOICES.items():
        section, name = key.split(".")
        assert cfg[section][name] in names, key


def test_a_wrong_name_is_refused_by_load_config_alone(tmp_path):
    """load_config checks the names it documents without importing any other part of the package."""
    import subprocess
    import sys

    code = ("import sys; from timesformer.config import ConfigError, load_config\n"
            "try:\n    load_config(None, ['TIMESFORMER.ATTENTION_TYPE', 'Axial'])\n"
            "except ConfigError as e:\n    print(e)\n"
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('timesformer.')}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "TIMESFORMER.ATTENTION_TYPE = 'Axial' is invalid" in out and "lower case" in out
    assert out.strip().splitlines()[-1] == "['config', 'errors']"


def test_stated_keys_read_the_files_as_load_config_does(tmp_path):
    from timesformer.config.stated import stated_keys

    write(tmp_path / "base.yaml", "DATA:\n  INPUT_CHANNEL_ORDER: rgb\n")
    child = write(tmp_path / "child.yaml", "_BASE_: base.yaml\nMODEL:\n  NUM_CLASSES: 5\n")
    assert stated_keys(child, ["TRAIN.BATCH_SIZE", "2"]) == {"DATA.INPUT_CHANNEL_ORDER", "MODEL.NUM_CLASSES",
                                                            "TRAIN.BATCH_SIZE"}
    loop = write(tmp_path / "loop.yaml", "_BASE_: loop.yaml\n")
    for read in (load_config, stated_keys):  # one reader: the same error
        with pytest.raises(ConfigError, match="circular _BASE_"):
            read(loop)


def test_a_stored_config_is_read_as_its_keys_defaults():
    from timesformer.config.stated import read_stored

    text = ("MODEL: {ARCH: vit, NUM_CLASSES: 174, MLP_RATIO: 4}\nDATA: {TRAIN_JITTER_SCALES: [256, 320.0], "
            "NUM_FRAMES: eight}\nTEST: {DATASET: Ssv2}\nTRAIN: 3\n")
    cfg, stated = read_stored(text, ["MODEL.ARCH", "MODEL.NUM_CLASSES", "MODEL.MLP_RATIO", "DATA.NUM_FRAMES",
                                     "DATA.TRAIN_JITTER_SCALES", "TEST.DATASET", "TRAIN.BATCH_SIZE"], "x.pyth")
    assert stated == {"MODEL.NUM_CLASSES", "MODEL.MLP_RATIO", "DATA.TRAIN_JITTER_SCALES", "TEST.DATASET"}
    assert (cfg.MODEL.ARCH, cfg.TEST.DATASET, cfg.DATA.NUM_FRAMES) == ("vit_base_patch16", "ssv2", 8)
    assert cfg.DATA.TRAIN_JITTER_SCALES == [256, 320] and type(cfg.MODEL.MLP_RATIO) is float
    assert read_stored("MODEL: [1\n", ["MODEL.ARCH"], "bad.pyth")[1] == set()
