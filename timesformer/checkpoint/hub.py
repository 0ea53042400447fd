"""Remote sources: timm model names (timm's own pretrained machinery) and Hugging Face hub ids.

Only these two functions ever reach the network, and only when a name is not a local path.
"""
import logging
import os
from typing import Any, Optional

from timesformer.errors import FetchError, UploadError

from .formats import WEIGHT_FILES, Weights

logger = logging.getLogger(__name__)

# Names ending so, or starting with ".", "/" or "~", are local files: never timm names or hub ids.
WEIGHT_SUFFIXES = (".pyth", ".pth", ".pt", ".bin", ".safetensors", ".npz")


def is_timm_name(name: str) -> bool:
    """True if ``name`` (optionally with a ``.tag``) is a model timm knows."""
    import timm

    return timm.is_model(name)


def read_timm(name: str, **model_kwargs: Any) -> Weights:
    """An image ViT from timm (``vit_base_patch16_224.orig_in21k_ft_in1k``), fetched by timm itself.

    ``model_kwargs`` go to ``timm.create_model`` (e.g. ``pretrained_cfg_overlay=dict(file=...)`` to
    use a local copy of the weights).
    """
    import timm
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    try:
        vit = timm.create_model(name, pretrained=True, **model_kwargs)
    except Exception as e:  # network, hub or file errors all mean the same to the user
        raise FetchError(f"could not get the pretrained weights of timm model {name!r} "
                         f"({type(e).__name__}: {e}). Without network access, download them elsewhere "
                         "(timm.create_model(name, pretrained=True), then torch.save(model.state_dict(), "
                         "'vit.pth')) and pass the local file instead") from e
    if not isinstance(vit, TimmViT) or vit.cls_token is None:
        raise ValueError(f"timm model {name!r} is a {type(vit).__name__}; TimeSformer starts from a "
                         "plain ViT with a class token (e.g. vit_base_patch16_224.orig_in21k_ft_in1k)")
    meta = dict(num_heads=vit.blocks[0].attn.num_heads, norm_eps=vit.norm.eps if hasattr(vit.norm, "eps") else 1e-6)
    return Weights(vit.state_dict(), "timm", name, meta=meta)


def download_hf(repo_id: str) -> str:
    """Local folder with ``config.json`` and the weights of Hugging Face hub repo ``repo_id``."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, allow_patterns=["config.json", *WEIGHT_FILES])
    except Exception as e:
        raise FetchError(f"could not fetch {repo_id!r} from the Hugging Face hub: {str(e).rstrip('.')}. "
                         "Without network access, copy the model folder (config.json + model.safetensors) "
                         "here and pass its path") from e


def looks_like_path(name: str) -> bool:
    """True for a local file name: a weights suffix (``.pyth``, ``.pth``, ...) or a path prefix."""
    return name.lower().endswith(WEIGHT_SUFFIXES) or name.startswith((".", "/", "~"))


def looks_like_hub_id(name: str) -> bool:
    """``owner/name`` that is not a local path."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not looks_like_path(name) and not os.path.exists(name)


def push_to_hub(folder: str, repo_id: str, token: Optional[str] = None) -> str:
    """Upload the Hugging Face model folder ``folder`` (``convert_checkpoint --to hf``) to hub repo
    ``repo_id``, created (public) when missing, in one commit; returns the commit's URL. ``token``:
    default the logged-in user's (``hf auth login`` or ``HF_TOKEN``)."""
    from huggingface_hub import HfApi

    missing = [f for f in ("config.json", WEIGHT_FILES[0]) if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise FileNotFoundError(f"{folder}: not a model folder to upload (no {', '.join(missing)}); write one "
                                "with tools/convert_checkpoint.py IN OUT --to hf")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=folder, repo_type="model",
                                 commit_message=f"Upload {os.path.basename(os.path.abspath(folder))} (timesformer)")
    except Exception as e:  # authentication, permissions and network errors all mean the same to the user
        raise UploadError(f"could not upload {folder} to the Hugging Face hub repo {repo_id}: "
                          f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}. Log in "
                          "(hf auth login, or set HF_TOKEN) with write access to it; the folder is intact: "
                          f"upload it later with hf upload {repo_id} {folder}") from e
    return info.commit_url
