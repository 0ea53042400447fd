"""Remote sources: timm model names (timm's own pretrained machinery) and Hugging Face hub ids.

Only these two functions ever reach the network, and only when a name is not a local path. Before
they do, :func:`hub_offline_reason` checks once per process whether the hub can be reached
(``HF_HUB_OFFLINE`` set, or no connection to ``HF_ENDPOINT`` within ``CONNECT_TIMEOUT_S``);
when it cannot, only the local Hugging Face cache is read, so a machine without internet fails in
seconds (huggingface_hub alone retries for about a minute) and uses weights cached earlier.
"""
import functools
import logging
import os
import socket
import threading
import urllib.parse
import urllib.request
from typing import Any, Dict, Optional, Tuple

from timesformer.errors import FetchError, UploadError

from .formats import WEIGHT_FILES, Weights

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0  # one TCP connection to the hub (or the proxy); DNS included
DEFAULT_ENDPOINT = "https://huggingface.co"
OFFLINE_ADVICE = ("Without network access, see INSTALL.md (Machines without internet access): download "
                  "the weights on a machine with access and pass the local file or folder, or fill the "
                  "Hugging Face cache there and set HF_HUB_OFFLINE=1")


def _is_true(value: Optional[str]) -> bool:
    """An environment flag as huggingface_hub reads it (1, ON, YES, TRUE)."""
    return (value or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _address(endpoint: str) -> Tuple[str, int]:
    """(host, port) a connection to ``endpoint`` opens: its proxy's when one is set for it."""
    url = urllib.parse.urlsplit(endpoint)
    host = url.hostname or ""
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        url = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host = url.hostname or host
    return host, url.port or (443 if url.scheme == "https" else 80)


@functools.lru_cache(maxsize=None)
def _connects(host: str, port: int) -> bool:
    """Whether a TCP connection to (host, port) opens within CONNECT_TIMEOUT_S (DNS included: the
    attempt runs in a thread that is not waited for longer). Cached: one attempt per process."""
    opened: Dict[str, bool] = {}

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
            opened["ok"] = True
        except OSError:
            opened["ok"] = False

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S + 1.0)
    return opened.get("ok", False)


def hub_offline_reason() -> str:
    """'' when the Hugging Face hub may be asked; else why not: HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE)
    is set, or ``HF_ENDPOINT`` (or its proxy) does not accept a connection (checked once per process)."""
    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if _is_true(os.environ.get(flag)):
            return f"{flag} is set"
    endpoint = os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    host, port = _address(endpoint)
    if not host or not _connects(host, port):
        return f"cannot connect to {endpoint} ({host}:{port} within {CONNECT_TIMEOUT_S:g} s)"
    return ""


def reset_hub_check() -> None:
    """Forget the connection checks of this process (the network came back; tests)."""
    _connects.cache_clear()


def _cached_timm_file(name: str) -> Optional[str]:
    """The Hugging Face cache's copy of timm model ``name``'s weights (as timm would fetch them), or None."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not cfg.hf_hub_id:
        return None
    repo, _, revision = cfg.hf_hub_id.partition("@")
    for file in [cfg.hf_hub_filename] if cfg.hf_hub_filename else WEIGHT_FILES:
        path = try_to_load_from_cache(repo, file, revision=revision or None)
        if isinstance(path, str):
            return path
    return None

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

    offline = "" if "pretrained_cfg_overlay" in model_kwargs else hub_offline_reason()
    if offline:
        cached = _cached_timm_file(name)
        if cached is None:
            raise FetchError(f"could not get the pretrained weights of timm model {name!r}: {offline}, and "
                             f"they are not in the Hugging Face cache. {OFFLINE_ADVICE}")
        logger.info("%s: %s; using the cached weights %s", name, offline, cached)
        model_kwargs = dict(model_kwargs, pretrained_cfg_overlay=dict(file=cached))
    try:
        vit = timm.create_model(name, pretrained=True, **model_kwargs)
    except Exception as e:  # network, hub or file errors all mean the same to the user
        raise FetchError(f"could not get the pretrained weights of timm model {name!r} "
                         f"({type(e).__name__}: {e}). {OFFLINE_ADVICE}") from e
    if not isinstance(vit, TimmViT) or vit.cls_token is None:
        raise ValueError(f"timm model {name!r} is a {type(vit).__name__}; TimeSformer starts from a "
                         "plain ViT with a class token (e.g. vit_base_patch16_224.orig_in21k_ft_in1k)")
    meta = dict(num_heads=vit.blocks[0].attn.num_heads, norm_eps=vit.norm.eps if hasattr(vit.norm, "eps") else 1e-6)
    return Weights(vit.state_dict(), "timm", name, meta=meta)


def download_hf(repo_id: str) -> str:
    """Local folder with ``config.json`` and the weights of Hugging Face hub repo ``repo_id``."""
    from huggingface_hub import snapshot_download

    offline = hub_offline_reason()
    kwargs = {"local_files_only": True} if offline else {}  # the cache only: no retries
    try:
        return snapshot_download(repo_id, allow_patterns=["config.json", *WEIGHT_FILES], **kwargs)
    except Exception as e:
        why = f"{offline}, and it is not in the Hugging Face cache" if offline else str(e).rstrip(".")
        raise FetchError(f"could not fetch {repo_id!r} from the Hugging Face hub: {why}. {OFFLINE_ADVICE} "
                         "(a model folder is config.json + model.safetensors)") from e


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
