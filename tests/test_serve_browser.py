"""The draw-a-digit page in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
Playwright, against the real server (uvicorn in a thread) and the real bundled model.

Digits are drawn with mouse events by painting real MNIST test digits onto the canvas, row by row, with the
page's own brush, so what the model sees went through the whole path: pointer events → canvas → PNG → API
→ image pipeline → model → page."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import serving

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("DIGITREC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INK_LEVEL = 128  # MNIST pixels at least this bright are painted


@pytest.fixture(scope="module")
def server_url(predictor):
    pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
    from digitrec.serve import create_app

    with serving(create_app(predictor)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set DIGITREC_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, server_url):
    contexts = []

    def open_(width: int = 1024, height: int = 800):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # The browser logs every 4xx as a console error too; those are answers, not script errors.
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and "Failed to load resource" not in message.text
                and errors.append(message.text)
            ),
        )
        page.goto(server_url)
        # A selector, not wait_for_function: polling a JS string needs eval, which the page's CSP forbids.
        page.wait_for_selector("#model-name:not(:empty)")
        page.js_errors = errors
        return page

    yield open_
    for context in contexts:
        context.close()


def draw_mnist_digit(page, image: np.ndarray, left: float = 0.0) -> None:
    """Paint the digit's ink pixels onto the canvas with the mouse: one stroke per horizontal run of ink;
    `left`: where the digit starts, in MNIST pixels from the canvas's left edge (numbers)."""
    box = page.locator("#canvas").bounding_box()
    cell = box["height"] / image.shape[0]

    def at(row: float, col: float) -> tuple[float, float]:
        return box["x"] + (left + col + 0.5) * cell, box["y"] + (row + 0.5) * cell

    for row, line in enumerate(image >= INK_LEVEL):
        edges = np.diff(np.concatenate([[0], line.astype(np.int8), [0]]))
        for start, end in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]):
            page.mouse.move(*at(row, start))
            page.mouse.down()
            page.mouse.move(*at(row, end - 1), steps=2)
            page.mouse.up()


def shown_prediction(page) -> str:
    """The digit the page shows once every prediction request has been answered."""
    page.wait_for_selector('#result[aria-busy="false"]', timeout=15_000)
    return page.inner_text("#prediction")


def canvas_ink(page) -> int:
    return page.evaluate("""() => {
        const canvas = document.getElementById('canvas');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let ink = 0;
        for (let i = 0; i < data.length; i += 4) ink += data[i] > 127;
        return ink;
    }""")


def test_page_renders_its_parts(open_page):
    page = open_page()
    assert page.title().startswith("digitrec")
    assert page.locator("#canvas").is_visible()
    assert page.locator("#clear").is_visible()
    assert page.locator("#probabilities li").count() == 10
    assert page.inner_text("#prediction") == "–"
    assert page.inner_text("#model-name").startswith("Model:")
    assert page.js_errors == []


def test_drawn_digits_are_recognised(open_page, one_per_class):
    page = open_page()
    for image, digit in one_per_class:
        page.click("#clear")
        draw_mnist_digit(page, image)
        assert shown_prediction(page) == str(digit), f"drew a {digit}"
        assert page.inner_text("#confidence").endswith("%")
        top_bars = page.locator("#probabilities li.top")
        assert top_bars.count() == 1 and top_bars.get_attribute("data-digit") == str(digit)
    assert page.js_errors == []


def test_drawn_numbers_are_read_whole(open_page, mnist):
    """A number on the wide canvas, its digits touching (MNIST test digits, 18 px apart in 28-px cells),
    read by the number reader through /api/read-number."""
    page = open_page()
    page.check('input[name="mode"][value="number"]')
    box = page.locator("#canvas").bounding_box()
    assert box["width"] > 3 * box["height"]  # the wide canvas
    for picks in ([0, 1, 2, 3], [4, 5, 6], [7, 8, 9, 10, 11]):
        page.click("#clear")
        for position, index in enumerate(picks):
            draw_mnist_digit(page, mnist.x_test[index], left=2 + 18 * position)
        expected = "".join(str(mnist.y_test[i]) for i in picks)
        assert shown_prediction(page) == expected
        assert page.locator("#parts li").count() == len(expected)
    page.check('input[name="mode"][value="digit"]')  # back to one digit: the square canvas and ten bars
    assert page.locator("#probabilities").is_visible() and not page.locator("#parts").is_visible()
    assert page.js_errors == []


def test_the_drawing_is_sent_at_half_size(open_page, one_per_class):
    """The page sends its 280-px canvas as a 140-px PNG: within the size the server works on as it is
    (128–256 px), a third of the work of the full canvas, which it would reduce to 256 px first."""
    page = open_page()
    sent = []
    page.on("request", lambda request: request.url.endswith("/api/predict") and sent.append(request.post_data))
    draw_mnist_digit(page, one_per_class[3][0])
    assert shown_prediction(page) == "3"
    assert sent
    image = Image.open(io.BytesIO(base64.b64decode(json.loads(sent[-1])["image"].split(",", 1)[1])))
    assert image.size == (140, 140)


def test_drawing_works_at_phone_width(open_page, one_per_class):
    page = open_page(width=320, height=640)
    assert page.evaluate("document.documentElement.scrollWidth") <= 320, "the page scrolls sideways"
    assert page.locator("#canvas").bounding_box()["width"] < 280  # shown scaled down: coordinates must follow
    image, digit = one_per_class[4]
    draw_mnist_digit(page, image)
    assert shown_prediction(page) == str(digit)
    assert page.js_errors == []


def test_clear_empties_the_canvas_and_the_result(open_page, one_per_class):
    page = open_page()
    draw_mnist_digit(page, one_per_class[7][0])
    assert shown_prediction(page) == "7"
    assert canvas_ink(page) > 0
    page.click("#clear")
    assert canvas_ink(page) == 0
    assert page.inner_text("#prediction") == "–"
    assert page.locator("#probabilities li.top").count() == 0


def test_a_tap_leaves_a_dot(open_page):
    page = open_page()
    box = page.locator("#canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert canvas_ink(page) > 100  # a round dot of the brush's width (canvas drops zero-length strokes)
    shown_prediction(page)
    assert page.js_errors == []


def test_uploaded_photo_is_recognised(open_page, one_per_class, tmp_path):
    image, digit = one_per_class[2]
    photo = tmp_path / "two.jpg"
    Image.fromarray(255 - image).resize((300, 300), Image.Resampling.BICUBIC).save(photo, "JPEG")
    page = open_page()
    page.set_input_files("#file-input", str(photo))
    assert shown_prediction(page) == str(digit)
    assert page.locator("#upload-preview").is_visible()


def test_upload_of_a_non_image_shows_the_servers_reason(open_page, tmp_path):
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("seven")
    page = open_page()
    page.set_input_files("#file-input", str(not_an_image))
    assert shown_prediction(page) == "?"
    assert "not an image" in page.inner_text("#status")


@pytest.mark.parametrize("text", list("EHKMXY"))  # not A: drawn, it is a 4 with a closed top
def test_a_drawn_letter_is_not_a_digit(open_page, text):
    """A capital letter drawn on the canvas: the page says "not a digit" and keeps the closest digit in words."""
    from pathlib import Path

    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    from digitrec import imaging

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans-Bold.ttf"), 90)
    letter = Image.new("L", (160, 160), 235)
    ImageDraw.Draw(letter).text((80, 80), text, fill=30, font=font, anchor="mm")
    page = open_page()
    draw_mnist_digit(page, imaging.to_mnist(letter))
    assert shown_prediction(page) == "not a digit"
    assert page.inner_text("#status").startswith("It does not look like a digit (closest: ")
    assert page.js_errors == []
