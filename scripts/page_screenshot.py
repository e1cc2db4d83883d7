"""The picture in the README: the drawing page with a real MNIST test digit drawn on it, as a user draws
(mouse strokes), read by the bundled model. Needs Chromium (`make browser`) and the MNIST files.

    python scripts/page_screenshot.py [--digit-index 0] [--output docs/images/page.png]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DIGITREC_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def draw(page, image: np.ndarray) -> None:
    """One mouse stroke per horizontal run of ink, as the browser test draws."""
    box = page.locator("#canvas").bounding_box()
    cell = box["width"] / image.shape[1]
    for row, line in enumerate(image >= 128):
        edges = np.diff(np.concatenate([[0], line.astype(np.int8), [0]]))
        for start, end in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]):
            page.mouse.move(box["x"] + (start + 0.5) * cell, box["y"] + (row + 0.5) * cell)
            page.mouse.down()
            page.mouse.move(box["x"] + (end - 0.5) * cell, box["y"] + (row + 0.5) * cell, steps=2)
            page.mouse.up()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--digit-index", type=int, default=0, help="which MNIST test digit to draw")
    parser.add_argument("--data", default=f"mnist:{ROOT.parent / 'shared' / 'data' / 'mnist'}")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "page.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from digitrec.data import load_dataset

    digit = load_dataset(args.data, with_test=True).x_test[args.digit_index]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "digitrec", "serve", "--host", "127.0.0.1", "--port", str(port)])
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            time.sleep(0.1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 900, "height": 640})
            page.goto(f"http://127.0.0.1:{port}/")
            draw(page, digit)
            page.wait_for_selector('#result[aria-busy="false"]', timeout=15_000)
            page.wait_for_timeout(300)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.output))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
