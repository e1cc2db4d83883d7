"""Starting the Keras backend for a command, quietly (see `start_backend_quietly`)."""

from __future__ import annotations

import logging
import os

from digitrec.runtime.provenance import check_keras_backend
from digitrec.runtime.quiet import stderr_silenced


def quiet_backend() -> None:
    """Before anything imports TensorFlow: its C++ logging at errors only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def start_backend_quietly() -> None:
    """Start the Keras backend with its start-up noise kept off stderr: TensorFlow's C++ lines ("Could
    not find cuda drivers", "failed call to cuInit: ... ERROR") and JAX's "Unable to initialize backend
    'tpu'" look like failures to a CLI user on a CPU machine. Python errors still surface (raised)."""
    check_keras_backend()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "jax":
        logging.getLogger("jax._src.xla_bridge").setLevel(logging.ERROR)
    if backend != "tensorflow":
        return
    with stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery is where the CUDA probing happens
