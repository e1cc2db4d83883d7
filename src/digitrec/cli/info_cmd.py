"""digitrec info: versions, where data is cached, and the bundled model's card."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "info",
        help="show versions, the data cache and the bundled model's card",
        description="Print digitrec's and its libraries' versions, where MNIST downloads are "
        "cached, and the bundled models' cards (intended use, data, metrics, "
        "limitations).",
    )
    parser.add_argument("--json", action="store_true", help="versions and paths as one JSON object, no card")
    return parser


def run(args) -> int:
    from digitrec import bundled
    from digitrec.data.download import MNIST_FILES, cache_dir
    from digitrec.data.sources import ENV_VAR
    from digitrec.inference import default_model
    from digitrec.inference.reader import default_reader
    from digitrec.runtime.provenance import versions

    cache = cache_dir() / "mnist"
    found: dict[str, Any] = {
        "versions": versions(
            "onnxruntime", "fastapi", "uvicorn", "pillow", "opencv-python-headless", "scipy", "scikit-learn", "pandas"
        ),
        "data": {
            "DIGITREC_DATA": os.environ.get(ENV_VAR),
            "cache": str(cache),
            "cached_files": sorted(name for name in MNIST_FILES if (cache / name).is_file()),
        },
        "bundled_model": {"default": str(default_model()), "card": str(bundled.CARD)},
        "bundled_reader": {"default": str(default_reader()), "card": str(bundled.READER_CARD)},
    }
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print("digitrec " + found["versions"]["digitrec"])
    width = max(len(name) for name in found["versions"])
    for name, version in found["versions"].items():
        if name != "digitrec":
            print(f"  {name:{width}} {version or '(not installed)'}")
    print(
        f"data: ${ENV_VAR} = {found['data']['DIGITREC_DATA'] or '(unset)'}; MNIST cache {cache} "
        f"({len(found['data']['cached_files'])} of {len(MNIST_FILES)} files)"
    )
    print(f"bundled model: {found['bundled_model']['default']}")
    print(f"bundled number reader: {found['bundled_reader']['default']}\n")
    for card in (bundled.CARD, bundled.READER_CARD):
        print(card.read_text(encoding="utf-8") if card.is_file() else f"(no {card.name})")
    return 0


def needs_backend(args) -> bool:
    return False
