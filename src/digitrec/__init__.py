"""digitrec: handwritten-digit recognition with Keras 3."""

from digitrec._version import __version__

__all__ = ["__version__"]
