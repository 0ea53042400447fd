"""Every configuration key, its default and what it does.

A key lives here only when some code reads it. Experiment files under ``configs/`` override the
few keys that differ (``_BASE_`` files hold shared recipes). ``load_config`` merges a YAML file and
command-line ``KEY VALUE`` pairs over these defaults and checks what the config owns: known keys,
the default's type, and for the keys of :data:`CHOICES` one of the names listed here (a test keeps
each list equal to the code that reads the key). The package reading a key checks the rest when it
builds (``build_model``, ``build_loader``, ``build_optimizer``, ``Trainer``);
``timesformer.engine.check_config`` runs all those checks at once.
"""
from typing import Any, Dict, Tuple

from fvcore.common.config import CfgNode

# MODEL.ARCH: the backbone presets by name, the ViT sizes each stands for (the paper's model is
# vit_base_patch16, ViT-B/16). timesformer.models.PRESETS is this table.
ARCHS: Dict[str, Dict[str, Any]] = {
    "vit_small_patch16": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6, mlp_ratio=4.0),
    "vit_base_patch16": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0),
    "vit_large_patch16": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0),
}
# The names other keys take (each list is the one the code reading the key implements).
# TIMESFORMER.ATTENTION_TYPE: the attention schemes (timesformer.models.SCHEMES).
ATTENTION_TYPES = ("space_only", "joint_space_time", "divided_space_time", "sparse_local_global", "axial")
# TRAIN.DATASET and TEST.DATASET (timesformer.data.DATASETS).
DATASETS = ("diving48", "hmdb51", "howto100m", "kinetics", "ssv2", "synthetic", "ucf101", "video_list")
# DATA.INPUT_CHANNEL_ORDER.
CHANNEL_ORDERS = ("rgb", "bgr")
# DATA.DECODING_BACKEND and DATA.DECODING_DEVICE.
DECODING_BACKENDS = ("pyav", "torchcodec")
DECODING_DEVICES = ("cpu", "cuda")
# TRAIN.MIXED_PRECISION: autocast to bfloat16 or float16, or not at all.
PRECISIONS = ("none", "bf16", "fp16")
# SOLVER.OPTIMIZING_METHOD and SOLVER.LR_POLICY.
OPTIMIZING_METHODS = ("sgd", "adamw")
LR_POLICIES = ("steps_with_relative_lrs", "cosine")
# TEST.ENSEMBLE_METHOD.
ENSEMBLE_METHODS = ("softmax", "sum", "max")

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
# sparse_local_global or axial (see timesformer/models/attention.py and README.md).
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

# Folder of the annotation files (train.csv, ... or the official JSONs; see DATASET.md).
_C.DATA.PATH_TO_DATA_DIR = ""
# Prepended to every video path read from the annotation files.
_C.DATA.PATH_PREFIX = ""
# Separator between path and label in CSV annotation files (kinetics, howto100m, video_list).
_C.DATA.PATH_LABEL_SEPARATOR = " "
# Multi-label classification (Charades-style): a video may have several classes (video_list labels
# "a,b,c"; other datasets give one-hot targets). Targets are multi-hot, the loss is binary cross-entropy
# (timm's multi-label Mixup smooths each target towards 0.5 by MIXUP.LABEL_SMOOTH_VALUE), views are
# combined as sigmoid scores (TEST.ENSEMBLE_METHOD "softmax": their mean, "max": their max, "sum":
# summed logits) and evaluation reports the mean average precision over classes (mAP). DATASET.md.
_C.DATA.MULTI_LABEL = False
# UCF101 / HMDB51: which of the three official train/test splits the split files are read for.
_C.DATA.OFFICIAL_SPLIT = 1
# Take one frame every SAMPLING_RATE frames, counted at TARGET_FPS (mapped onto the video's real fps).
_C.DATA.SAMPLING_RATE = 32
# Frame rate at which SAMPLING_RATE is counted.
_C.DATA.TARGET_FPS = 30
# Frame rate assumed for folders of JPEG frames (their files carry no timestamps).
_C.DATA.FRAMES_FPS = 30
# Training: the short side is resized to a random size in [min, max] before the random crop.
_C.DATA.TRAIN_JITTER_SCALES = [256, 320]
# Per-channel mean and std of pixels in [0, 1], used by timesformer.data.normalize; the channels are
# the model's, in DATA.INPUT_CHANNEL_ORDER (as the reference normalised them).
_C.DATA.MEAN = [0.45, 0.45, 0.45]
_C.DATA.STD = [0.225, 0.225, 0.225]
# Channel order of the frames the model gets: "rgb" (as decoded) or "bgr" (reversed). The authors'
# released SSv2 models saw BGR frames (their SSv2 loader read JPEGs with OpenCV and never flipped them
# for the ViT); every other released model, and fine-tuning from an ImageNet ViT, is RGB. Loading
# weights that state or imply an order (our checkpoints record it; a reference SSv2 .pyth or a
# Hugging Face SSv2 port is bgr) sets it, unless your config file (with its _BASE_ files) or command
# line states this key: then yours wins, with a warning when they differ. See MODEL_ZOO.md.
_C.DATA.INPUT_CHANNEL_ORDER = "rgb"
# Random horizontal flip in training (False for SSv2, where left/right is the label).
_C.DATA.RANDOM_FLIP = True
# Video decoder: "pyav" or "torchcodec" (pip install timesformer[torchcodec]; it also needs FFmpeg's
# shared libraries on the machine). Folders of JPEG frames are read as such.
_C.DATA.DECODING_BACKEND = "pyav"
# Where torchcodec decodes: "cpu", or "cuda" (the GPU's video decoder, NVDEC, on each process's own
# GPU; needs a CUDA build of torch and torchcodec). Loader workers then start with "spawn" (CUDA
# does not survive fork) and each holds a CUDA context, so a few workers are enough. PyAV: "cpu".
_C.DATA.DECODING_DEVICE = "cpu"
# PyAV: do not decode frames that nothing refers to (most B-frames of H.264/HEVC) unless the clip
# shows them. The frames are bit-identical either way; it saves 20-35% of the decoding CPU on files
# with B-frames and costs nothing on others (BENCHMARKS.md). False decodes every frame from the
# keyframe on (for benchmarks, and to rule it out).
_C.DATA.SKIP_NONREF_FRAMES = True
# Training: a bad (missing, unreadable, empty) video is replaced by another one at most this many
# times per sample; past that the run stops with the list of failing files.
_C.DATA.MAX_BAD_VIDEO_RETRIES = 10
# Every split: once more than this fraction of a split's videos could not be used (replaced in
# training, skipped in evaluation), the run stops with the list of failing files. Counted over the
# distinct files found bad since the dataset was built; a bad file stays bad, so from the first
# epoch on this is the share of the epoch's videos. 0.05: a few broken downloads are normal, more
# means a damaged copy or a wrong DATA.PATH_PREFIX, and substitutes skew the classes. 0 stops at the
# first bad file, 1 never. Truncated files whose frames are used do not count.
_C.DATA.MAX_BAD_VIDEO_FRACTION = 0.05
# Synthetic dataset: training videos generated on first use (val and test get a quarter each).
_C.DATA.SYNTHETIC_NUM_VIDEOS = 256

# ----------------------------------------------------------------------------- data loader
_C.DATA_LOADER = CfgNode()
# Decoding worker processes per training process (0 = decode in the main process).
_C.DATA_LOADER.NUM_WORKERS = 8
# Put batches in pinned memory for faster copies to the GPU.
_C.DATA_LOADER.PIN_MEMORY = True
# Keep workers alive between epochs (only used when NUM_WORKERS > 0).
_C.DATA_LOADER.PERSISTENT_WORKERS = True

# ----------------------------------------------------------------------------- augmentation
_C.AUG = CfgNode()
# Extra training augmentation from timm: RandAugment (AA_TYPE), and random erasing (RE_PROB).
_C.AUG.ENABLE = False
# timm RandAugment policy string, applied with the same ops to every frame of a clip ("" = off).
_C.AUG.AA_TYPE = "rand-m7-n4-mstd0.5-inc1"
# Probability of erasing a random box (the same in every frame) of a training clip.
_C.AUG.RE_PROB = 0.0

# ----------------------------------------------------------------------------- mixup
_C.MIXUP = CfgNode()
# Mixup / CutMix of training batches (timm Mixup with soft targets).
_C.MIXUP.ENABLE = False
# Mixup alpha (0 = off).
_C.MIXUP.ALPHA = 0.8
# CutMix alpha (0 = off).
_C.MIXUP.CUTMIX_ALPHA = 1.0
# Probability of mixing a batch at all.
_C.MIXUP.PROB = 1.0
# Probability of CutMix instead of Mixup when both are on.
_C.MIXUP.SWITCH_PROB = 0.5
# Label smoothing of the mixed targets.
_C.MIXUP.LABEL_SMOOTH_VALUE = 0.1

# ----------------------------------------------------------------------------- training
_C.TRAIN = CfgNode()
# Run training (tools/run_net.py trains when True, then tests when TEST.ENABLE).
_C.TRAIN.ENABLE = True
# The effective batch: clips per optimizer step, summed over all processes and accumulated
# iterations; the learning rate goes with it (the recipe: 64). It does not change with the number of
# processes (NUM_GPUS x NUM_SHARDS), any number from 1 to BATCH_SIZE: process r takes
# BATCH_SIZE // processes clips per step, one more when r < BATCH_SIZE % processes (pairs of clips
# with MIXUP.ENABLE, which then needs an even BATCH_SIZE), in iterations of at most
# MAX_BATCH_PER_PROCESS clips whose gradients are accumulated, each clip's loss weighted alike: every
# step is the mean gradient over its BATCH_SIZE clips (data/batching.py). When the shares are equal
# and split into equal iterations an epoch's last, shorter group averages its own batches; with
# uneven ones the clips after an epoch's last whole step are left out.
_C.TRAIN.BATCH_SIZE = 8
# The most clips one process runs forward and backward at once: what fits in its memory (0 = no
# limit: its whole share of BATCH_SIZE at once, no accumulation). Every process runs the same
# number of iterations per step, the fewest that keep each at most this (at least 2 with
# MIXUP.ENABLE), its share split near-equally over them; the optimisation is the same, only speed
# and memory change.
_C.TRAIN.MAX_BATCH_PER_PROCESS = 0
# Validate every this many epochs (0 = never).
_C.TRAIN.EVAL_PERIOD = 1
# Save a checkpoint every this many epochs (0 = only at the end).
_C.TRAIN.CHECKPOINT_PERIOD = 1
# Also save every this many optimizer steps within an epoch, for resuming preempted jobs (0 = off).
_C.TRAIN.CHECKPOINT_PERIOD_ITERS = 0
# Autocast precision: "none", "bf16" or "fp16" (fp16 adds a gradient scaler; bf16 needs none).
_C.TRAIN.MIXED_PRECISION = "none"
# Recompute each block in the backward pass to save activation memory.
_C.TRAIN.ACTIVATION_CHECKPOINTING = False
# Run the model through torch.compile (inductor, with the workaround of timesformer/utils/compile.py);
# evaluation and test-only runs use the compiled model too.
_C.TRAIN.COMPILE = False

# Dataset of the train and val splits: kinetics, ssv2, diving48, howto100m, ucf101, hmdb51, video_list
# or synthetic.
_C.TRAIN.DATASET = "kinetics"

# Resume from the newest valid checkpoint in OUTPUT_DIR/checkpoints when there is one (wins over the keys below).
_C.TRAIN.AUTO_RESUME = True
# Checkpoint to start from when there is nothing to resume: full training state, or weights only with FINETUNE.
_C.TRAIN.CHECKPOINT_FILE_PATH = ""
# Load only the weights of CHECKPOINT_FILE_PATH (any format; head dropped if classes differ), not optimizer/epoch.
_C.TRAIN.FINETUNE = False
# Keep the newest K readable training checkpoints in OUTPUT_DIR/checkpoints (0 = keep all); the one just
# saved is always kept, unreadable ones are renamed *.corrupt and not counted.
_C.TRAIN.CHECKPOINT_KEEP_LAST = 3

# ----------------------------------------------------------------------------- solver
_C.SOLVER = CfgNode()
# "sgd" (momentum, optional Nesterov) or "adamw".
_C.SOLVER.OPTIMIZING_METHOD = "sgd"
# Learning rate before any policy factor.
_C.SOLVER.BASE_LR = 0.005
# "steps_with_relative_lrs" (BASE_LR * LRS[i] from epoch STEPS[i]) or "cosine" (down to COSINE_END_LR).
_C.SOLVER.LR_POLICY = "steps_with_relative_lrs"
# Epochs at which each relative rate of LRS starts (the first must be 0).
_C.SOLVER.STEPS = [0, 11, 14]
# Rates relative to BASE_LR, one per entry of STEPS.
_C.SOLVER.LRS = [1, 0.1, 0.01]
# Epochs to train.
_C.SOLVER.MAX_EPOCH = 15
# SGD momentum.
_C.SOLVER.MOMENTUM = 0.9
# SGD Nesterov momentum.
_C.SOLVER.NESTEROV = True
# Weight decay (L2 for SGD, decoupled for AdamW).
_C.SOLVER.WEIGHT_DECAY = 1e-4
# Linear warm-up length in epochs (fractions allowed), from WARMUP_START_LR to the policy's rate.
_C.SOLVER.WARMUP_EPOCHS = 0.0
# Learning rate at the start of the warm-up.
_C.SOLVER.WARMUP_START_LR = 0.0
# Final learning rate of the cosine policy.
_C.SOLVER.COSINE_END_LR = 0.0
# Exempt 1-D parameters (norms, biases) and pos/time embeddings and the CLS token from weight decay.
_C.SOLVER.ZERO_WD_1D_PARAM = False
# AdamW betas.
_C.SOLVER.BETAS = [0.9, 0.999]
# Clip the global gradient norm to this value (0 = off).
_C.SOLVER.CLIP_GRAD_NORM = 0.0

# ----------------------------------------------------------------------------- testing
_C.TEST = CfgNode()
# Run testing after training (or alone when TRAIN.ENABLE is False).
_C.TEST.ENABLE = True
# Clips per test iteration, summed over all processes: each process takes TEST.BATCH_SIZE // processes
# (at least 1) at a time. Any value works with any process count; results do not depend on it.
_C.TEST.BATCH_SIZE = 8
# Weights to test when not training: a checkpoint file; "" = the newest checkpoint in OUTPUT_DIR.
_C.TEST.CHECKPOINT_FILE_PATH = ""
# How the views of a video are combined: "softmax" (average of softmax scores, the paper),
# "sum" (sum of logits, the reference code) or "max" (class-wise max of softmax scores). With
# DATA.MULTI_LABEL the class probabilities are sigmoids instead of a softmax.
_C.TEST.ENSEMBLE_METHOD = "softmax"

# Dataset of the test split: kinetics, ssv2, diving48, howto100m, ucf101, hmdb51, video_list or synthetic.
_C.TEST.DATASET = "kinetics"
# Clips per video spread evenly over time (1 = the middle clip). HowTo100M covers the whole video.
_C.TEST.NUM_ENSEMBLE_VIEWS = 1
# Spatial crops per clip: 1 (centre) or 3 (left/centre/right; top/centre/bottom for portrait video).
_C.TEST.NUM_SPATIAL_CROPS = 3
# Skip unreadable test videos (reported, marked invalid in the batch) instead of stopping.
_C.TEST.SKIP_BAD_VIDEOS = False

# ----------------------------------------------------------------------------- run
# Where checkpoints, logs, stats.jsonl, TensorBoard events, predictions and the merged config go.
_C.OUTPUT_DIR = "./output"
# Processes per machine: one per GPU; 0 = one CPU process; on a machine without CUDA, N > 1 starts
# N CPU processes (gloo).
_C.NUM_GPUS = 1
# Machines in the job (with NUM_GPUS processes each); set MASTER_ADDR / MASTER_PORT when > 1.
_C.NUM_SHARDS = 1
# Index of this machine among NUM_SHARDS.
_C.SHARD_ID = 0
# Seed of python, numpy and torch (each rank and epoch derive their own from it).
_C.RNG_SEED = 0
# torch.distributed backend on GPUs ("nccl"); CPU processes always use "gloo".
_C.DIST_BACKEND = "nccl"
# Log (and write a train_iter record) every this many iterations.
_C.LOG_PERIOD = 10

# ----------------------------------------------------------------------------- Weights & Biases
_C.LOG = CfgNode()
# Also log the run to Weights & Biases (rank 0 only): the config, every scalar of stats.jsonl as
# <type>/<key> against "iter" (what TensorBoard shows), the final test metrics (test_final/*, also
# the run summary). Needs pip install "timesformer[wandb]". WANDB_MODE=offline writes the run under
# OUTPUT_DIR/wandb without network (wandb sync uploads it). The run's id is kept in
# OUTPUT_DIR/wandb_run.json: a resumed run (the same OUTPUT_DIR) continues the same W&B run.
_C.LOG.WANDB = False
# W&B project of the run.
_C.LOG.WANDB_PROJECT = "timesformer"
# W&B entity (user or team); "" = your default entity.
_C.LOG.WANDB_ENTITY = ""
# Name of the run in W&B; "" = W&B picks one.
_C.LOG.WANDB_NAME = ""
# Tags of the run in W&B, e.g. "['k400', 'divided']" on the command line.
_C.LOG.WANDB_TAGS = []


# Keys that no longer exist, and what a config that sets one should say instead (load_config's error).
RETIRED: Dict[str, str] = {
    "TRAIN.GLOBAL_BATCH_SIZE": "TRAIN.BATCH_SIZE is now the effective batch (clips per optimizer step over "
                               "all processes, what TRAIN.GLOBAL_BATCH_SIZE was): set TRAIN.BATCH_SIZE to this "
                               "value, and TRAIN.MAX_BATCH_PER_PROCESS to the clips one process holds at once "
                               "(gradients are accumulated up to TRAIN.BATCH_SIZE for any process count)",
}

# Keys that take one of a few names, and those names (load_config checks them).
CHOICES: Dict[str, Tuple[str, ...]] = {
    "MODEL.ARCH": tuple(ARCHS),
    "TIMESFORMER.ATTENTION_TYPE": ATTENTION_TYPES,
    "TRAIN.DATASET": DATASETS,
    "TEST.DATASET": DATASETS,
    "DATA.INPUT_CHANNEL_ORDER": CHANNEL_ORDERS,
    "DATA.DECODING_BACKEND": DECODING_BACKENDS,
    "DATA.DECODING_DEVICE": DECODING_DEVICES,
    "TRAIN.MIXED_PRECISION": PRECISIONS,
    "SOLVER.OPTIMIZING_METHOD": OPTIMIZING_METHODS,
    "SOLVER.LR_POLICY": LR_POLICIES,
    "TEST.ENSEMBLE_METHOD": ENSEMBLE_METHODS,
}


def get_cfg() -> CfgNode:
    """Return a fresh copy of the default configuration."""
    return _C.clone()


def arch_sizes(cfg: CfgNode) -> Dict[str, Any]:
    """The ViT sizes (patch_size, embed_dim, depth, num_heads, mlp_ratio) the MODEL keys describe:
    MODEL.ARCH's preset (vit_base_patch16 for an unknown name), each size key > 0 replacing its number."""
    m = cfg.MODEL
    preset = ARCHS.get(m.ARCH, ARCHS["vit_base_patch16"])
    return dict(patch_size=m.PATCH_SIZE or preset["patch_size"], embed_dim=m.EMBED_DIM or preset["embed_dim"],
                depth=m.DEPTH or preset["depth"], num_heads=m.NUM_HEADS or preset["num_heads"],
                mlp_ratio=m.MLP_RATIO or preset["mlp_ratio"])
