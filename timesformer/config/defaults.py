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
# Run training (tools/run_net.py trains when True, then tests when TEST.ENABLE).
_C.TRAIN.ENABLE = True
# Clips per iteration, summed over all processes (as the reference); each process gets BATCH_SIZE / world.
_C.TRAIN.BATCH_SIZE = 8
# Effective batch per optimizer step (> 0): gradients are accumulated over GLOBAL_BATCH_SIZE / BATCH_SIZE
# iterations (the paper used 64); 0 = one step per iteration.
_C.TRAIN.GLOBAL_BATCH_SIZE = 0
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
# Run the model through torch.compile.
_C.TRAIN.COMPILE = False

# (checkpoint issue: TRAIN checkpoint keys go here)

_C.SOLVER = CfgNode()
# (engine issue: SOLVER keys go here)
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
# (engine issue: TEST keys go here)
# Run testing after training (or alone when TRAIN.ENABLE is False).
_C.TEST.ENABLE = True
# Clips per test iteration, summed over all processes.
_C.TEST.BATCH_SIZE = 8
# Weights to test when not training: a checkpoint file; "" = the newest checkpoint in OUTPUT_DIR.
_C.TEST.CHECKPOINT_FILE_PATH = ""
# How the views of a video are combined: "softmax" (average of softmax scores, the paper),
# "sum" (sum of logits, the reference code) or "max" (class-wise max of softmax scores).
_C.TEST.ENSEMBLE_METHOD = "softmax"

# (data issue: TEST keys go here)

# ----------------------------------------------------------------------------- run
# (engine issue: OUTPUT_DIR, NUM_GPUS, RNG_SEED, LOG ... keys go here)
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


def get_cfg() -> CfgNode:
    """Return a fresh copy of the default configuration."""
    return _C.clone()
