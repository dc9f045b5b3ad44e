"""The web page in a real headless Chromium (Selenium) against a real `trufor serve` on 127.0.0.1.

Needs Debian's ``chromium`` and ``chromium-driver`` (installed by .ci/run); skipped when absent locally,
never in CI. ``TRUFOR_SCREENSHOT`` names where to keep the screenshot (default: the test's tmp folder).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed (pip install -e '.[service]')")
selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")

from service_helpers import Server, png_bytes  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        pytest.fail("chromium and chromium-driver are required in CI (apt-get install chromium chromium-driver)",
                    pytrace=False)
    pytestmark = pytest.mark.skip(reason="chromium / chromedriver not installed (apt-get install chromium chromium-driver)")


@pytest.fixture
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # the profile and Chromium's temporary files (its singleton socket folder) in the test's own folder, not /tmp
    scratch = tmp_path_factory.mktemp("chromium")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,1000",
                "--disable-extensions", "--no-first-run", f"--user-data-dir={scratch / 'profile'}"):
        opts.add_argument(arg)
    service = Service(DRIVER, env={**os.environ, "TMPDIR": str(scratch)})
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_page_upload_result_overlay_with_token(tmp_path, browser):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from conftest import random_weights

    weights = Path(os.environ.get("TRUFOR_TEST_SERVICE_WEIGHTS") or
                   random_weights("trufor_small", tmp_path / "small.safetensors"))
    picture = os.environ.get("TRUFOR_TEST_SERVICE_IMAGE")
    image = Path(picture) if picture else tmp_path / "photo.png"
    if not picture:
        image.write_bytes(png_bytes(42, size=96))
    with Server(tmp_path / "data", weights, "--workers", "1", "--token", "t0ken") as server:
        wait = WebDriverWait(browser, 90)
        browser.get(server.url + "/")
        wait.until(EC.visibility_of_element_located((By.ID, "token")))  # the API answered 401: token asked
        browser.find_element(By.ID, "token").send_keys("t0ken")
        browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
        wait.until(lambda d: "Model:" in d.find_element(By.ID, "model").text)
        browser.find_element(By.ID, "files").send_keys(str(image))
        wait.until(lambda d: d.find_element(By.ID, "r-score").text.strip() != "")
        score_text = browser.find_element(By.ID, "r-score").text
        words = browser.find_element(By.ID, "r-words").text
        import httpx

        listing = httpx.get(server.url + "/api/v1/analyses", headers={"Authorization": "Bearer t0ken"}).json()
        api = listing["items"][0]
        assert api["status"] == "done"
        assert score_text == f"{api['score']:.3f}" and words == api["verdict"]
        assert api["model"]["name"].split(" (")[0] in browser.find_element(By.ID, "r-facts").text
        # the map layer is loaded and is not blank
        wait.until(lambda d: d.execute_script("return document.getElementById('r-map').naturalWidth") > 0)
        drawn = browser.execute_script("""
            const img = document.getElementById('r-map');
            const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
            return n;""")
        assert drawn > 0
        stack = Image.open(io.BytesIO(browser.find_element(By.ID, "stack").screenshot_as_png)).convert("RGB")
        pixels = np.asarray(stack)
        assert pixels.std() > 5 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # an image, not a blank box
        # the opacity slider changes the layer, by keyboard
        slider = browser.find_element(By.ID, "opacity")
        from selenium.webdriver.common.keys import Keys

        slider.send_keys(Keys.HOME)
        assert browser.execute_script("return document.getElementById('r-map').style.opacity") == "0"
        slider.send_keys(Keys.END)
        assert browser.execute_script("return document.getElementById('r-map').style.opacity") == "1"
        slider.send_keys(*[Keys.LEFT] * 30)
        links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#r-downloads a")]
        assert "report.html" in links and "result.npz" in links
        assert browser.find_elements(By.CSS_SELECTOR, "#list img")  # the history shows a thumbnail
        errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"] \
            if hasattr(browser, "get_log") else []
        assert not [e for e in errors if "Content Security Policy" in e.get("message", "")], errors
        browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
        shot = Path(os.environ.get("TRUFOR_SCREENSHOT") or tmp_path / "page.png")
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        # the generated OpenAPI page works offline under the CSP (Swagger UI served from the package)
        browser.get(server.url + "/api/v1/docs")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 5)
        assert "/api/v1/analyses" in browser.page_source
