"""timesformer: training and evaluating video transformers (TimeSformer, ICML 2021).

``import timesformer`` registers the paper's models with timm (``timm.create_model(
'timesformer_base_patch16_224')``, see ``timesformer.timm_models``) without importing timm:
timm (and torch under it) take seconds to import, and the command-line tools must start fast. The
models are registered the moment timm is imported, before or after this package.
"""
import sys
import warnings

__version__ = "0.1.0"


def _register_with_timm() -> None:
    """Import ``timesformer.timm_models`` (registers our models with timm; it imports no model code, so
    it works while a part of the package is half-imported); a failure is a warning, never an error in
    the user's ``import timm``."""
    try:
        import timesformer.timm_models  # noqa: F401
    except Exception as e:  # timm must import even when our models cannot (a broken torch, say)
        warnings.warn(f"timesformer models not registered with timm: {type(e).__name__}: {e}", stacklevel=2)


class _AfterTimmImport:
    """A ``sys.meta_path`` finder that calls :func:`_register_with_timm` once the module ``timm`` has
    been executed (Python has no post-import hook of its own), then removes itself."""

    def find_spec(self, name, path=None, target=None):
        if name != "timm":
            return None
        for finder in sys.meta_path:  # the spec the other finders give, its loader wrapped
            spec = finder.find_spec(name, path, target) if finder is not self and hasattr(finder, "find_spec") \
                else None
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_then_register(module) -> None:
            exec_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            if "timesformer.timm_models" not in sys.modules:  # being imported: it registers when it is done
                _register_with_timm()

        spec.loader.exec_module = exec_then_register
        return spec


if "timm" in sys.modules:
    _register_with_timm()
elif not any(isinstance(f, _AfterTimmImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterTimmImport())
