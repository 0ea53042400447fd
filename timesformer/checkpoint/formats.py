"""Reading and writing weights in every layout: our checkpoints, the reference's ``.pyth``,
Hugging Face folders (TimeSformer, image ViT, timm), timm/DeiT ``.pth``/``.bin``/``.safetensors``
files and Google's ViT ``.npz``.

Everything is read with ``torch.load(weights_only=True)``, safetensors or numpy without pickle, so a
downloaded file cannot run code; zip archives (torch files, npz) have their CRC-32s verified first
(:func:`check_crc`), so damaged data are an error naming the file, never loaded. :class:`Weights`
is the common in-memory form.
"""
import errno
import json
import logging
import os
import pickle
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Dict, List, Optional

import torch

from timesformer import __version__
from timesformer.config import get_cfg
from timesformer.config.defaults import ARCHS, arch_sizes
from timesformer.config.stated import read_stored
from timesformer.errors import HeadsUnknownError, UnsafeFileError, WriteError
from timesformer.utils.files import atomic_open

from .channels import ORDER_KEY, RGB, checked_order, order_from_cfg_yaml, order_from_hf_config
from .convert import (
    StateDict,
    add_prefix,
    hf_to_vit,
    hf_vit_to_vit,
    infer_architecture,
    is_hf_vit,
    strip_prefixes,
    vit_to_hf,
)
from .hf_files import CARD, CFG_KEY, PREPROCESSOR, Parity, hf_config, model_card, preprocessor_config

logger = logging.getLogger(__name__)

FORMATS = ("timesformer", "pyth", "hf")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Our config keys that describe the network (read back from a stored cfg YAML).
_CFG_KEYS = ("MODEL.ARCH", "MODEL.NUM_HEADS", "DATA.NUM_FRAMES")  # what a stored config says of the model


@dataclass
class Weights:
    """A state dict in our keys (no ``model.`` prefix) plus what is known about its network."""

    state_dict: StateDict
    layout: str  # image_vit | timesformer | pyth | hf | npz | timm
    source: str
    meta: Dict[str, Any] = field(default_factory=dict)  # model kwargs the file states (num_heads, ...)
    class_names: Optional[List[str]] = None
    cfg: Optional[str] = None  # the stored config YAML, when there is one
    channel_order: Optional[str] = None  # rgb | bgr: the input the model was trained on; None = not stated
    channel_order_note: str = ""  # how the file states or implies it (see channels.py)
    iteration: int = 0  # training iterations behind the weights (our training checkpoints), else 0

    def model_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of the TimeSformer these weights describe (shapes first, then metadata)."""
        kw = dict(self.meta)
        kw.update(infer_architecture(self.state_dict))
        kw["num_heads"] = self._num_heads(kw["embed_dim"])
        if "num_frames" not in kw:  # neither a time_embed nor a stated frame count: an image ViT
            kw["num_frames"] = 8
        return kw

    def _num_heads(self, width: int) -> int:
        """The attention heads the file states, else the preset of its width (ARCHS); else refused:
        the tensors cannot tell 4 heads of 16 channels from 1 of 64, and a guess is a different model."""
        fix = ("State it: --num-heads N to tools/convert_checkpoint.py, which records it in the file it "
               "writes (in Python: from_pretrained(..., num_heads=N))")
        heads = self.meta.get("num_heads")
        if heads is None:
            preset = next(((name, a["num_heads"]) for name, a in ARCHS.items() if a["embed_dim"] == width), None)
            if preset is None:
                widths = ", ".join(f"{n} {a['embed_dim']}: {a['num_heads']} heads" for n, a in ARCHS.items())
                raise HeadsUnknownError(f"{self.source} does not state its number of attention heads and its "
                                        f"width {width} is no preset's ({widths}), so the count cannot be read "
                                        f"off its tensors. {fix}")
            logger.info("%s does not state its number of attention heads; width %d is %s's: %d heads",
                        self.source, width, *preset)
            heads = preset[1]
        if heads < 1 or width % heads:
            raise HeadsUnknownError(f"{self.source}: {heads} attention heads do not divide its width {width}. "
                                    f"{fix}, a divisor of {width}")
        return heads


def check_crc(path: str) -> None:
    """Verify the CRC-32 every member of a zip archive records (torch files, npz); a mismatch (a copy or
    download cut short, a disk error, blocks lost in a crash) is a ValueError naming the file and the
    member. Not a zip archive (safetensors, legacy torch files): nothing to verify, left to the reader."""
    if not zipfile.is_zipfile(path):
        return
    member = "?"
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                member = info.filename
                if info.CRC == 0 and info.file_size:  # written with torch's CRC-32 option off
                    continue
                with archive.open(info) as f:
                    while f.read(1 << 24):  # zipfile raises BadZipFile at the end on a CRC mismatch
                        pass
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path}: damaged: the bytes of {member} fail the zip archive's check ({e}); "
                         "the file was cut short or corrupted (a partial copy or download, a disk error, "
                         "blocks lost in a crash). Copy or download it again, or use another checkpoint") from e


def _refused_object(e: Exception) -> str:
    """What torch's weights-only unpickler refused (e.g. 'argparse.Namespace'), without torch's advice."""
    m = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
    return m.group(1) if m else "object of a kind that torch's safe loader does not allow"


def first_sentence(text: str) -> str:
    """The first sentence of an error message (torch's go on for several)."""
    return text.strip().splitlines()[0].split(". ")[0] if text.strip() else ""


def _load_torch(path: str, check_data: bool = True, mmap: bool = False) -> Any:
    """The one reader of PyTorch files: ``torch.load(weights_only=True)`` on the CPU, after
    :func:`check_crc` (``check_data``; torch.load does not verify the checksums). ``mmap`` maps the
    tensor data instead of reading it (zip archives; a legacy file is read). A refused or unreadable
    file is a ValueError naming it."""
    if check_data:
        check_crc(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and zipfile.is_zipfile(path))
    except pickle.UnpicklingError as e:
        if "Weights only load failed" not in str(e):
            raise ValueError(f"{path}: not a readable PyTorch file (truncated or corrupt?): "
                             f"{first_sentence(str(e))}") from e
        # from None: torch's own message advises loading the file with the safety turned off
        raise UnsafeFileError(f"{path} was refused: it holds a pickled {_refused_object(e)}, which could run code "
                              "when unpickled. Only tensors and plain containers are loaded; ask whoever made it "
                              "for the weights alone (torch.save(model.state_dict(), ...)) or a .safetensors "
                              "file") from None
    except (RuntimeError, EOFError, KeyError, IndexError, ValueError, AttributeError, TypeError) as e:
        raise ValueError(f"{path}: not a readable PyTorch file (truncated or corrupt?): "
                         f"{type(e).__name__}: {first_sentence(str(e))}") from e


def _load_safetensors(path: str) -> StateDict:
    from safetensors.torch import load_file

    return load_file(path, device="cpu")


def _kwargs_from_cfg_yaml(text: str, source: str) -> Dict[str, Any]:
    """The model kwargs a stored config YAML states that the tensors cannot tell: the attention heads
    (MODEL.NUM_HEADS, or MODEL.ARCH's preset) and the frames (DATA.NUM_FRAMES)."""
    cfg, stated = read_stored(text, _CFG_KEYS, source)
    kw = {"num_heads": arch_sizes(cfg)["num_heads"], "num_frames": cfg.DATA.NUM_FRAMES}
    keep = {"num_heads"} if {"MODEL.NUM_HEADS", "MODEL.ARCH"} & stated else set()
    keep |= {"num_frames"} if "DATA.NUM_FRAMES" in stated else set()  # space_only: no time_embed to count
    return {k: kw[k] for k in keep}


def weights_of(obj: Any, path: str) -> Weights:
    """A loaded object (dict) -> Weights, detecting the layout by its keys."""
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    cfg = obj.get("cfg") if isinstance(obj.get("cfg"), str) else None
    names = obj.get("class_names")
    for container, layout in (("model_state", "pyth"), ("model", "timesformer"), ("state_dict", "image_vit"),
                              ("module", "image_vit")):
        if isinstance(obj.get(container), dict):
            inner = weights_of(obj[container], path)
            if layout == "pyth" or (layout == "timesformer" and all(k.startswith("model.") for k in obj[container])):
                inner.layout = layout
            inner.cfg = cfg or inner.cfg
            inner.class_names = names or inner.class_names
            if cfg:
                inner.meta.update(_kwargs_from_cfg_yaml(cfg, path))
                inner.channel_order, inner.channel_order_note = order_from_cfg_yaml(cfg, path)
            if obj.get(ORDER_KEY) is not None:  # written by write_weights
                inner.channel_order = checked_order(obj[ORDER_KEY], f"{path}: {ORDER_KEY}")
                inner.channel_order_note = "recorded in the file"
            if isinstance(obj.get("model_kwargs"), dict):
                inner.meta.update(obj["model_kwargs"])
            if isinstance(obj.get("iteration"), int):
                inner.iteration = obj["iteration"]
            return inner
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{path}: not a state dict; non-tensor entries {bad[:5]} and no 'model_state', "
                         "'model' or 'state_dict' entry holding one")
    if any(k.startswith("timesformer.") for k in obj):
        return Weights(hf_to_vit(obj), "hf", path)
    if is_hf_vit(obj):
        return Weights(hf_vit_to_vit(obj), "image_vit", path)
    sd = strip_prefixes(obj)
    video = "time_embed" in sd or any("_attn." in k for k in sd)
    return Weights(sd, "timesformer" if video else "image_vit", path)


def _timm_heads(config: Dict[str, Any]) -> int:
    """Attention heads of the timm model a timm hub ``config.json`` describes."""
    args = config.get("model_args") or {}
    if "num_heads" in args:
        return int(args["num_heads"])
    import timm

    with torch.device("meta"):  # the architecture only, no memory, no download
        model = timm.create_model(config["architecture"], pretrained=False)
    return model.blocks[0].attn.num_heads


def read_hf_folder(folder: str, lazy: bool = False) -> Weights:
    """A Hugging Face folder: ``config.json`` plus ``model.safetensors`` or ``pytorch_model.bin``,
    holding a TimeSformer (transformers), an image ViT (transformers) or a timm ViT (``lazy``: see
    :func:`read_file`)."""
    cfg_path = os.path.join(folder, "config.json")
    files = [os.path.join(folder, f) for f in WEIGHT_FILES if os.path.isfile(os.path.join(folder, f))]
    if not os.path.isfile(cfg_path) or not files:
        raise ValueError(f"{folder}: a Hugging Face model folder needs config.json and one of "
                         f"{WEIGHT_FILES}; found {sorted(os.listdir(folder))}")
    with open(cfg_path) as f:
        config = json.load(f)
    kind = "timm" if "architecture" in config else config.get("model_type")
    if kind not in ("timesformer", "vit", "timm"):
        raise ValueError(f"{cfg_path}: model_type {config.get('model_type')!r}; expected 'timesformer', 'vit' "
                         "or a timm model's config (with 'architecture')")
    if config.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"{cfg_path}: hidden_act {config['hidden_act']!r}; TimeSformer uses 'gelu'")
    raw = _load_safetensors(files[0]) if files[0].endswith(".safetensors") else _load_torch(
        files[0], check_data=not lazy, mmap=lazy)
    w = weights_of(raw, files[0])
    w.source = folder
    if kind == "timm":
        w.meta.update(num_heads=_timm_heads(config))
        w.class_names = (config.get("pretrained_cfg") or {}).get("label_names") or w.class_names
        return w
    w.meta.update(num_heads=config.get("num_attention_heads", 12), norm_eps=config.get("layer_norm_eps", 1e-6))
    if kind == "timesformer":
        w.layout = "hf"
        w.meta.update(num_frames=config.get("num_frames", 8))
        w.cfg = config.get(CFG_KEY) or w.cfg
        w.channel_order, w.channel_order_note = order_from_hf_config(config, w.cfg, folder)
    id2label = config.get("id2label") or {}
    names = [id2label[str(i)] for i in range(len(id2label))]
    if names and names != [f"LABEL_{i}" for i in range(len(names))]:  # transformers' placeholder names
        w.class_names = names
    return w


def read_npz(path: str) -> Weights:
    """Google's original ViT ``.npz`` (JAX/Flax) through timm's own npz loader."""
    import numpy as np
    from timm.models.vision_transformer import VisionTransformer as TimmViT
    from timm.models.vision_transformer import _load_weights

    check_crc(path)
    with np.load(path, allow_pickle=False) as w:
        keys = set(w.files)
        p = next((p for p in ("", "opt/target/", "params/") if f"{p}embedding/kernel" in keys), None)
        if p is None:
            raise ValueError(f"{path}: not a Google ViT .npz (no 'embedding/kernel' entry)")
        ph, _, in_chans, dim = w[f"{p}embedding/kernel"].shape
        grid = int(round((w[f"{p}Transformer/posembed_input/pos_embedding"].shape[1] - 1) ** 0.5))
        depth = sum(1 for k in keys
                    if k.startswith(f"{p}Transformer/encoderblock_") and k.endswith("LayerNorm_0/scale"))
        blk = f"{p}Transformer/encoderblock_0/"
        heads = w[f"{blk}MultiHeadDotProductAttention_1/query/kernel"].shape[1]
        hidden = w[f"{blk}MlpBlock_3/Dense_0/kernel"].shape[1]
        classes = w[f"{p}head/kernel"].shape[1] if f"{p}head/kernel" in keys else 0
    vit = TimmViT(img_size=grid * ph, patch_size=ph, in_chans=in_chans, num_classes=classes, embed_dim=dim,
                  depth=depth, num_heads=heads, mlp_ratio=hidden / dim)
    with torch.no_grad():
        _load_weights(vit, path)
    return Weights(vit.state_dict(), "npz", path, meta=dict(num_heads=heads, norm_eps=vit.norm.eps))


def read_file(path: str, lazy: bool = False) -> Weights:
    """Any weights file, its layout detected by its keys. ``lazy``: a PyTorch archive's tensors are
    mapped from disk, not read or checked, for what the file says about itself (its channel order,
    its training iteration); a model load reads and checks them."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.endswith(".npz"):
        return read_npz(path)
    raw = _load_safetensors(path) if path.endswith(".safetensors") else _load_torch(
        path, check_data=not lazy, mmap=lazy)
    return weights_of(raw, path)


def _cfg_yaml(kw: Dict[str, Any], channel_order: str) -> str:
    """A config YAML (our keys) describing a model with keyword arguments ``kw`` and its input."""
    cfg = get_cfg()
    cfg.MODEL.NUM_CLASSES, cfg.MODEL.PATCH_SIZE = kw["num_classes"], kw["patch_size"]
    cfg.MODEL.EMBED_DIM, cfg.MODEL.DEPTH, cfg.MODEL.NUM_HEADS = kw["embed_dim"], kw["depth"], kw["num_heads"]
    cfg.MODEL.MLP_RATIO = float(kw["mlp_ratio"])
    cfg.TIMESFORMER.ATTENTION_TYPE, cfg.DATA.NUM_FRAMES = kw["attention_type"], kw["num_frames"]
    cfg.DATA.TRAIN_CROP_SIZE = cfg.DATA.TEST_CROP_SIZE = kw["img_size"]
    cfg.DATA.INPUT_CHANNEL_ORDER = channel_order
    return cfg.dump()


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> None:
    """``write(f)`` into ``path.tmpPID``, fsync, rename over ``path``: a kill or an error during the
    write leaves the previous ``path`` intact, and an error leaves no temporary file behind. The file
    gets the usual mode (0666 less the umask: 0644, readable by group and others). A write that fails
    (full disk: torch reports "unexpected pos") raises :class:`WriteError` naming ``path``."""
    try:
        with atomic_open(path, "wb") as f:
            write(f)
    except (OSError, RuntimeError) as e:
        raise WriteError(_write_failure(path, e)) from e


def _write_failure(path: str, e: BaseException) -> str:
    """Why writing ``path`` failed: the OS error behind torch's (``errno`` text), the free space, the fix."""
    cause: Optional[BaseException] = e
    while cause is not None and not (isinstance(cause, OSError) and cause.strerror):
        cause = cause.__cause__ or cause.__context__
    reason = cause.strerror if isinstance(cause, OSError) else (str(e).splitlines() or [type(e).__name__])[0]
    if isinstance(cause, OSError) and cause.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"could not write {path}: {reason}. Nothing was replaced: files already there are intact"
    folder = os.path.dirname(os.path.abspath(path))
    try:
        free = f"{shutil.disk_usage(folder).free / 2 ** 20:.0f} MiB free there"
    except OSError:
        free = "its free space unknown"
    return (f"could not write {path}: {reason} ({free}); the disk is full or a file-size limit (ulimit -f) "
            "applies. Nothing was replaced: files already there are intact. Free some space and run again")


def write_weights(w: Weights, out: str, fmt: str, source: Optional[str] = None) -> None:
    """Write ``w`` as ``fmt``: 'timesformer' (our file), 'pyth' (reference layout) or 'hf' (a folder
    that transformers runs: weights, config.json, preprocessor_config.json and a model card naming
    ``source``, default ``w.source``). Every file is written atomically and readable by all (0644)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    kw = w.model_kwargs()
    sd = {k: v.contiguous() for k, v in w.state_dict.items()}
    model_kwargs = {k: kw[k] for k in ("num_heads", "norm_eps", "qkv_bias", "in_chans") if k in kw}
    order = w.channel_order or RGB  # recorded in every file: None means an image ViT's RGB
    if fmt == "hf":
        from safetensors.torch import save

        os.makedirs(out, exist_ok=True)
        tensors = save(vit_to_hf(sd), metadata={"format": "pt"})
        atomic_write(os.path.join(out, WEIGHT_FILES[0]), lambda f: f.write(tensors))
        _write_json(os.path.join(out, "config.json"), hf_config(kw, w.class_names, w.cfg, order))
        _write_json(os.path.join(out, PREPROCESSOR), preprocessor_config(kw, w.cfg, order))
        write_model_card(w, out, source)
        return
    obj: Dict[str, Any] = {"model_state" if fmt == "pyth" else "model": add_prefix(sd),
                           "cfg": w.cfg if w.cfg else _cfg_yaml(kw, order), "model_kwargs": model_kwargs,
                           ORDER_KEY: order}
    if fmt == "pyth":
        obj["epoch"] = -1  # the reference layout always carries one; -1 = not from a training run
    if w.class_names:
        obj["class_names"] = list(w.class_names)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    atomic_torch_save(obj, out)


def _write_json(path: str, obj: Dict[str, Any]) -> None:
    text = json.dumps(obj, indent=2).encode()
    atomic_write(path, lambda f: f.write(text))


def write_model_card(w: Weights, folder: str, source: Optional[str] = None, parity: Optional[Parity] = None) -> None:
    """The model card (README.md) of the Hugging Face folder ``folder`` written from ``w``, stating
    ``parity`` (the check of its logits, see ``timesformer.export.hf``) when there is one."""
    text = model_card(w.model_kwargs(), w.class_names, w.cfg, w.channel_order or RGB, w.layout, source or w.source,
                      parity, __version__).encode()
    atomic_write(os.path.join(folder, CARD), lambda f: f.write(text))
