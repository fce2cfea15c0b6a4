"""``torch.nn``'s functional corner: ``engine.nn.functional`` (losses and activations)."""

from . import functional

__all__ = ["functional"]
