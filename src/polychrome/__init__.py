"""polychrome: colorize black-and-white photos and films, and train the models that do it."""

__version__ = "0.1.0"

import os as _os  # noqa: E402
import sys as _sys  # noqa: E402

# OpenMP threads that spin while waiting make PyTorch's CPU work 2-3x slower whenever another busy process
# shares the cores (a laptop with a browser open, two jobs on one machine); sleeping costs nothing on an idle
# machine (BENCHMARKS section 7). It must be chosen before PyTorch loads; a choice of the user's is kept.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from polychrome.models import create_model, list_models, load_pretrained, save_pretrained  # noqa: E402
from polychrome.pipelines.image import Colorizer, ColorizerOutput, DecodeOptions, builtin_models  # noqa: E402

__all__ = [
    "Colorizer",
    "ColorizerOutput",
    "DecodeOptions",
    "__version__",
    "builtin_models",
    "create_model",
    "list_models",
    "load_pretrained",
    "save_pretrained",
]
