"""The page of zoo serve in real headless Chromium: draw on the canvas and read the prediction.

Screenshots are left in the temporary folder (``zoo-page*.png``) to look at.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from serve_testkit import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(tempfile.gettempdir()) / "zoo-page.png"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")  # fmt: skip

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
            assert len(bars) == 3  # the three likeliest classes
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


def _chrome(profile: Path, size: str = "1100,760") -> Any:
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--window-size={size}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))


def test_a_letters_model_and_a_long_regressor_form_read_as_themselves(tmp_path: Path) -> None:
    pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    from test_serve_any_model import train_houses, train_letters, write_houses

    train_letters(tmp_path)
    features = tuple(f"feature_{i}" for i in range(20))  # a form longer than the window
    train_houses(tmp_path, write_houses(tmp_path / "wide.csv", features=features), out="wide-run")
    with serving("letters=letters-run", "wide-run", cwd=tmp_path) as base:
        driver = _chrome(tmp_path / "profile")
        try:
            driver.get(base + "/")
            wait = WebDriverWait(driver, 30)
            pad = wait.until(ec.presence_of_element_located((By.ID, "pad")))
            about, prompt = driver.find_element(By.ID, "about").text, driver.find_element(By.ID, "prompt").text
            assert "5 classes (a, b, c, d, e)" in about and "Draw one of a, b, c, d, e" in prompt
            page = driver.find_element(By.TAG_NAME, "body").text
            assert "digit" not in page and "320" not in page
            chain = ActionChains(driver).move_to_element_with_offset(pad, 0, -95).click_and_hold()
            for _ in range(19):  # a vertical stroke: class a of the training pictures
                chain.move_by_offset(0, 10)
            chain.release().perform()
            driver.find_element(By.ID, "submit").click()
            shown = wait.until(ec.presence_of_element_located((By.ID, "prediction")))
            assert shown.text in "abcde" and len(driver.find_elements(By.CSS_SELECTOR, "#result .bar")) == 3
            assert driver.find_element(By.ID, "probability").text.startswith("probability ")
            driver.save_screenshot(str(SCREENSHOT.with_name("zoo-page-letters.png")))

            driver.find_element(By.CSS_SELECTOR, "nav button[data-name='tabular.regressor']").click()
            first = wait.until(ec.presence_of_element_located((By.ID, "x0")))
            assert float(first.get_attribute("value") or 0) != 0  # the training median, not 0
            submit = driver.find_element(By.ID, "submit")
            driver.execute_script("arguments[0].scrollIntoView({block: 'end'})", submit)
            assert driver.execute_script("return window.scrollY") > 0  # the form is longer than the window
            submit.click()
            answer = wait.until(ec.presence_of_element_located((By.ID, "prediction")))
            float(answer.text)  # a number: the predicted price
            box = driver.execute_script(
                "const r = arguments[0].getBoundingClientRect(); return [r.top, r.bottom, window.innerHeight];", answer
            )
            assert box[0] >= 0 and box[1] <= box[2], box  # the answer is in view beside the end of the form
            driver.save_screenshot(str(SCREENSHOT.with_name("zoo-page-regressor.png")))
        finally:
            driver.quit()
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
