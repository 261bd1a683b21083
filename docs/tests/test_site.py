"""The built site, read in headless Chromium as a reader reads it.

Run after the build (``.ci/run`` does both)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    pytest docs/tests

The site is served on 127.0.0.1 by a plain HTTP server and every chapter page is opened
in Chromium (from the OS packages, driven by Selenium through the OS's chromedriver).
Each page must typeset its math (no TeX left in the text), load every figure, request
nothing from another host and log no console error; each chapter offers its notebook.
"""

import functools
import http.server
import json
import os
import re
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("selenium", reason="the site's test drives Chromium with Selenium: pip install 'neuronet[test]'")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # the browser tests' shared finder
from browser import CHROMIUM, DRIVER, NEEDS_CHROMIUM  # noqa: E402

SITE = Path(os.environ.get("NEURONET_SITE", Path(__file__).resolve().parents[1] / "_build" / "html"))
pytestmark = NEEDS_CHROMIUM

CHAPTERS = sorted(SITE.glob("course/[0-9][0-9]-*.html"))
PAGES = [SITE / "index.html", SITE / "course" / "index.html", *CHAPTERS, *sorted(SITE.glob("api/*.html"))]
# TeX that MathJax would have replaced had it run: a display or inline delimiter, or a command.
RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\\(frac|sum|partial|sigma|hat|mathbf|left|right|cdot)\b")


def test_the_site_was_built():
    assert (SITE / "index.html").is_file(), (
        f"no site in {SITE}: build it first with `sphinx-build -W --keep-going -b html docs docs/_build/html`")
    assert len(CHAPTERS) == 11, [page.name for page in CHAPTERS]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def requested_urls(browser):
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def open_page(browser, url):
    browser.get_log("performance")  # forget the previous page's requests
    browser.get_log("browser")
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.readyState") == "complete")
    # MathJax typesets after the load event; wait for it where the page has math.
    browser.set_script_timeout(30)
    browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
            MathJax.startup.promise.then(() => done(true), () => done(false));
        } else { done(true); }""")
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(
        "return Array.from(document.images).every(image => image.complete)"))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(SITE)))
def test_page_reads_offline(browser, server, page):
    url = f"{server}/{page.relative_to(SITE).as_posix()}"
    open_page(browser, url)

    text = browser.execute_script("""
        const article = document.querySelector("article").cloneNode(true);
        article.querySelectorAll("pre, code, mjx-container").forEach(node => node.remove());
        return article.textContent;""")  # the prose, not the code that may spell TeX in strings
    leftover = RAW_TEX.findall(text)
    assert not leftover, f"{page.name}: TeX left untypeset in the text: {leftover[:5]}"
    if "course/" in url and page.name != "index.html":
        assert browser.find_elements("css selector", "mjx-container"), f"{page.name}: no typeset math"

    broken = browser.execute_script(
        "return Array.from(document.images).filter(image => !image.naturalWidth).map(image => image.src)")
    assert not broken, f"{page.name}: figures that did not load: {broken}"

    outside = [request for request in requested_urls(browser)
               if urlsplit(request).scheme in ("http", "https", "ws", "wss")
               and urlsplit(request).netloc != urlsplit(server).netloc]
    assert not outside, f"{page.name}: requests that leave the machine: {outside}"

    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"{page.name}: console errors: {errors}"


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda page: page.stem)
def test_chapter_offers_its_notebook(browser, server, page):
    open_page(browser, f"{server}/course/{page.name}")
    links = browser.find_elements("css selector", ".notebook-download a[download]")
    assert links, f"{page.name}: no link to the notebook"
    notebook = json.loads((page.parent / f"{page.stem}.ipynb").read_text(encoding="utf-8"))
    kinds = {cell["cell_type"] for cell in notebook["cells"]}
    assert notebook["nbformat"] == 4 and kinds == {"markdown", "code"}, kinds
    # The library code the page includes is written into the notebook, not the directive.
    assert not any("{literalinclude}" in "".join(cell["source"]) for cell in notebook["cells"])
    assert links[0].get_attribute("href").endswith(f"/course/{page.stem}.ipynb")
