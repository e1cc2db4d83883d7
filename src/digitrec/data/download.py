"""Download the standard MNIST files from public mirrors into a cache directory, verified by sha256."""

from __future__ import annotations

import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from digitrec.data.idx import STANDARD_FILES, sha256_of
from digitrec.errors import DataError
from digitrec.fileio import atomic_path

log = logging.getLogger(__name__)

MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_FILES = tuple(f"{name}.gz" for name in STANDARD_FILES)
_MAX_BYTES = 20_000_000  # the largest file is 9.9 MB; refuse anything absurd a mirror might send


def cache_dir() -> Path:
    """`DIGITREC_CACHE`, else `$XDG_CACHE_HOME/digitrec`, else `~/.cache/digitrec`."""
    if env := os.environ.get("DIGITREC_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "digitrec"


def _fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https/http mirrors)
        data = response.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise DataError(f"{url}: response larger than {_MAX_BYTES} bytes")
    return data


def download_file(name: str, dest_dir: Path, mirrors=MIRRORS, timeout: float = 30.0) -> Path:
    """Fetch one standard file, trying each mirror until one serves the published bytes."""
    size, digest = STANDARD_FILES[name.removesuffix(".gz")]["gz"]
    target = dest_dir / name
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            data = _fetch(url, timeout)
        except (urllib.error.URLError, OSError, http.client.HTTPException, DataError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
            continue
        if len(data) != size or sha256_of(data) != digest:
            failures.append(f"{url}: checksum mismatch ({len(data)} bytes)")
            continue
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
        log.info("downloaded %s from %s", name, mirror)
        return target
    raise DataError(f"could not download {name} from any mirror: " + "; ".join(failures))


def ensure_mnist(dest_dir: Path | None = None, mirrors=MIRRORS) -> Path:
    """Return a directory holding the four verified MNIST files, downloading the missing ones."""
    dest_dir = Path(dest_dir) if dest_dir else cache_dir() / "mnist"
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        if not (dest_dir / name).exists():
            download_file(name, dest_dir, mirrors)
    return dest_dir
