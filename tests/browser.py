"""Headless Chromium from the OS packages, as the browser tests find it (the studio's in
tests/, the site's in docs/tests/): the browser, its chromedriver, and the mark that skips
a test module, with the command that installs them, where they are missing."""

import os
import shutil

import pytest

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver") or next(
    (path for path in ("/usr/lib/chromium/chromedriver", "/usr/lib/chromium-browser/chromedriver")
     if os.path.exists(path)), None)
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="headless Chromium is not installed: apt-get install chromium chromium-driver "
           "(Debian/Ubuntu; the CI script .ci/run installs them)")
