"""Model registries; every family is imported here so registration never depends on import order."""

from polychrome.models import (  # noqa: F401  (register their variants)
    patchgan,
    unet,
    unet_efficientnet,
    unet_efficientnet_hint,
    zhang,
)
from polychrome.models._hub import load_pretrained, save_pretrained
from polychrome.models._registry import (
    create_critic,
    create_model,
    list_critics,
    list_models,
    register_critic,
    register_model,
)
from polychrome.models.base import ColorizationModel

__all__ = [
    "ColorizationModel",
    "create_critic",
    "create_model",
    "list_critics",
    "list_models",
    "load_pretrained",
    "register_critic",
    "register_model",
    "save_pretrained",
]
