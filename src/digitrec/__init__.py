"""digitrec: handwritten-digit recognition with Keras 3."""

__version__ = "0.1.0"
