"""Every configuration key, its default and what it does.

A key lives here only when some code reads it. Experiment files under ``configs/`` override the
few keys that differ (``_BASE_`` files hold shared recipes). ``load_config`` merges a YAML file and
command-line ``KEY VALUE`` pairs over these defaults and then validates the result
(``timesformer/config/checks.py``).
"""
from fvcore.common.config import CfgNode

_C = CfgNode()

# ----------------------------------------------------------------------------- model
_C.MODEL = CfgNode()
# Backbone preset: vit_small_patch16, vit_base_patch16 (the paper's ViT-B/16) or
# vit_large_patch16. The size keys below override single numbers of the preset when > 0.
_C.MODEL.ARCH = "vit_base_patch16"
# Number of output classes of the linear head (Kinetics-400: 400, SSv2: 174, ...).
_C.MODEL.NUM_CLASSES = 400
# Overrides of the preset (0 = take the preset's value); tiny models for tests and the quick start.
_C.MODEL.PATCH_SIZE = 0
_C.MODEL.EMBED_DIM = 0
_C.MODEL.DEPTH = 0
_C.MODEL.NUM_HEADS = 0
# MLP hidden size as a multiple of EMBED_DIM (0 = the preset's 4.0).
_C.MODEL.MLP_RATIO = 0.0
# Stochastic depth: the drop rate rises linearly from 0 in the first block to this in the last.
_C.MODEL.DROP_PATH_RATE = 0.1
# Dropout on the patch/position embeddings (the reference's drop_rate; 0 in every paper recipe).
_C.MODEL.DROPOUT_RATE = 0.0
# Dropout applied to the attention weights inside every attention step.
_C.MODEL.ATTN_DROPOUT_RATE = 0.0
# Dropout on the final CLS feature, just before the classification head.
_C.MODEL.HEAD_DROPOUT_RATE = 0.0

# ----------------------------------------------------------------------------- TimeSformer
_C.TIMESFORMER = CfgNode()
# Space-time attention scheme: space_only, joint_space_time, divided_space_time,
# sparse_local_global or axial (see timesformer/models/attention.py and SPEC §1).
_C.TIMESFORMER.ATTENTION_TYPE = "divided_space_time"
# Weights to start from: "" (random init), a timm model name, a local image-ViT / TimeSformer
# / Hugging Face checkpoint file or folder. See timesformer/checkpoint/.
_C.TIMESFORMER.PRETRAINED_MODEL = ""

# ----------------------------------------------------------------------------- data
_C.DATA = CfgNode()
# Frames per clip the model is built for (time_embed length). Other counts work at inference.
_C.DATA.NUM_FRAMES = 8
# Side of the square training crop; the model's pos_embed grid is TRAIN_CROP_SIZE / PATCH_SIZE.
_C.DATA.TRAIN_CROP_SIZE = 224
# Side of the square test crops.
_C.DATA.TEST_CROP_SIZE = 224

# (data issue: further DATA keys go here)

# ----------------------------------------------------------------------------- data loader
_C.DATA_LOADER = CfgNode()
# (data issue: DATA_LOADER keys go here)

# ----------------------------------------------------------------------------- training
_C.TRAIN = CfgNode()
# (engine issue: TRAIN keys go here)

# (checkpoint issue: TRAIN checkpoint keys go here)

_C.SOLVER = CfgNode()
# (engine issue: SOLVER keys go here)

# ----------------------------------------------------------------------------- testing
_C.TEST = CfgNode()
# (engine issue: TEST keys go here)

# (data issue: TEST keys go here)

# ----------------------------------------------------------------------------- run
# (engine issue: OUTPUT_DIR, NUM_GPUS, RNG_SEED, LOG ... keys go here)


def get_cfg() -> CfgNode:
    """Return a fresh copy of the default configuration."""
    return _C.clone()
