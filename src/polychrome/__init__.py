"""polychrome: colorize black-and-white photos and films, and train the models that do it."""

__version__ = "0.1.0"

import os as _os  # noqa: E402
import sys as _sys  # noqa: E402

# OpenMP threads that spin while waiting make PyTorch's CPU work 2-3x slower whenever another busy process
# shares the cores (a laptop with a browser open, two jobs on one machine); sleeping costs nothing on an idle
# machine (BENCHMARKS section 7). It must be chosen before PyTorch loads; a choice of the user's is kept.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from polychrome._lazy import lazy_attributes  # noqa: E402

# Names are imported on first use: `import polychrome` stays light, and the base install, which has no
# PyTorch, reaches Colorizer without touching the model families that need it.
_PUBLIC = {
    "Colorizer": "polychrome.pipelines.image",
    "ColorizerOutput": "polychrome.pipelines.image",
    "DecodeOptions": "polychrome.pipelines.image",
    "Hint": "polychrome.pipelines.hints",
    "builtin_models": "polychrome.pipelines.image",
    "create_model": "polychrome.models",
    "list_models": "polychrome.models",
    "load_pretrained": "polychrome.models",
    "save_pretrained": "polychrome.models",
}


__getattr__ = lazy_attributes(__name__, _PUBLIC)


__all__ = [
    "Colorizer",
    "ColorizerOutput",
    "DecodeOptions",
    "Hint",
    "__version__",
    "builtin_models",
    "create_model",
    "list_models",
    "load_pretrained",
    "save_pretrained",
]
