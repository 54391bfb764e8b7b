"""Plain registries of builders, filled by decorators (timm style): colorization models
(``@register_model``) and the critics that judge them in adversarial training (``@register_critic``)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_CRITICS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a builder under its function name; the name is what users pass to ``create_model``."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_MODELS)


def create_model(name: str, pretrained_encoder: bool = False, **kwargs) -> nn.Module:
    """Build a registered model.

    Args:
        name: one of :func:`list_models`.
        pretrained_encoder: start the encoder from ImageNet weights (needs the ``train`` extra).
        **kwargs: constructor arguments that override the variant's defaults.
    """
    try:
        builder = _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None
    return builder(pretrained_encoder=pretrained_encoder, **kwargs)


def register_critic(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a critic builder under its function name, for :func:`create_critic`."""
    name = fn.__name__
    if name in _CRITICS:
        raise ValueError(f"critic {name!r} is registered twice")
    _CRITICS[name] = fn
    return fn


def list_critics() -> list[str]:
    """Names of every registered critic, sorted."""
    return sorted(_CRITICS)


def create_critic(name: str, **kwargs) -> nn.Module:
    """Build a registered critic; ``kwargs`` override the variant's defaults."""
    try:
        builder = _CRITICS[name]
    except KeyError:
        raise ValueError(f"unknown critic {name!r}; available: {', '.join(list_critics())}") from None
    return builder(**kwargs)
