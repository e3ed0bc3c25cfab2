"""The page of zoo serve in real headless Chromium: draw a digit on the canvas and read the prediction."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from serve_testkit import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(tempfile.gettempdir()) / "zoo-page.png"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()), reason="needs chromium and chromium-driver"
)


def test_draw_a_one_and_read_the_prediction(tmp_path: Path) -> None:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,760", f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    # The published weights, by name: what a user gets from `zoo serve vision.cnn tabular.logistic`.
    with serving("vision.cnn", "tabular.logistic", cwd=tmp_path) as base:
        service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
        driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.get(base + "/")
            wait = WebDriverWait(driver, 30)
            pad = wait.until(ec.presence_of_element_located((By.ID, "pad")))
            chain = ActionChains(driver).move_to_element_with_offset(pad, 6, -95).click_and_hold()
            for _ in range(19):  # a slightly slanted stroke from top to bottom: a one
                chain.move_by_offset(-1, 10)
            chain.release().perform()
            driver.find_element(By.ID, "submit").click()
            shown = wait.until(ec.presence_of_element_located((By.ID, "prediction")))
            bars = driver.find_elements(By.CSS_SELECTOR, "#result .bar")
            driver.save_screenshot(str(SCREENSHOT))
            assert len(bars) == 5
            assert shown.text == "1"
            driver.find_element(By.CSS_SELECTOR, "nav button[data-name='tabular.logistic']").click()
            field = wait.until(ec.presence_of_element_located((By.ID, "x0")))
            field.clear()
            field.send_keys("4")
            driver.find_element(By.ID, "submit").click()
            assert wait.until(ec.presence_of_element_located((By.ID, "prediction"))).text
        finally:
            driver.quit()
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
