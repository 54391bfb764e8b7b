"""Model registry; every family is imported here so registration never depends on import order."""

from polychrome.models import unet, unet_efficientnet, zhang  # noqa: F401  (register their variants)
from polychrome.models._hub import load_pretrained, save_pretrained
from polychrome.models._registry import create_model, list_models, register_model
from polychrome.models.base import ColorizationModel

__all__ = [
    "ColorizationModel",
    "create_model",
    "list_models",
    "load_pretrained",
    "register_model",
    "save_pretrained",
]
