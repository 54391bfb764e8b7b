"""polychrome: colorize black-and-white photos and films, and train the models that do it."""

__version__ = "0.1.0"

from polychrome.models import create_model, list_models, load_pretrained, save_pretrained  # noqa: E402
from polychrome.pipelines.image import Colorizer, builtin_models  # noqa: E402

__all__ = [
    "Colorizer",
    "__version__",
    "builtin_models",
    "create_model",
    "list_models",
    "load_pretrained",
    "save_pretrained",
]
