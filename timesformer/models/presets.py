"""Named ViT backbone sizes (the paper uses ViT-B/16)."""
from typing import Dict

PRESETS: Dict[str, Dict[str, float]] = {
    "vit_small_patch16": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6, mlp_ratio=4.0),
    "vit_base_patch16": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0),
    "vit_large_patch16": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0),
}
