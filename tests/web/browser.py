"""mstag-live's page in headless Chromium (Debian `chromium` + `chromium-driver`), driven by
Selenium. Usage: browser.py PAGE_URL SCREENSHOT.png. Prints one JSON object of what it saw;
tests/web.rs asserts on it.
"""

import json
import shutil
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

URL, SHOT = sys.argv[1], sys.argv[2]


def find(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    raise SystemExit(f"none of {names} found: apt-get install chromium chromium-driver")


options = webdriver.ChromeOptions()
options.binary_location = find("chromium", "chromium-browser", "google-chrome")
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1280,900", "--no-first-run"):
    options.add_argument(a)
driver = webdriver.Chrome(service=Service(find("chromedriver")), options=options)
try:
    driver.get(URL)
    wait = WebDriverWait(driver, 20)
    wait.until(lambda d: d.find_element(By.ID, "status").text == "connected")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bars .row")) >= 10)

    def bars():
        # Read in one go: the page reorders its rows as the scores change.
        return driver.execute_script(
            "return [...document.querySelectorAll('#bars .row')].map(r => [r.dataset.tag,"
            " Number(r.dataset.value), r.querySelector('.fill').getBoundingClientRect().width]);"
        )

    first = bars()
    time.sleep(2.5)
    second = bars()
    before = {n: v for n, v, _ in first}
    moved = sum(1 for n, v, _ in second if n not in before or abs(before[n] - v) > 1e-6)
    names = [n for n, _, _ in second]
    driver.save_screenshot(SHOT)
    Select(driver.find_element(By.ID, "top")).select_by_visible_text("5")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bars .row")) == 5)
    time.sleep(0.5)
    after = len(driver.find_elements(By.CSS_SELECTOR, "#bars .row"))
    print(json.dumps({
        "status": driver.find_element(By.ID, "status").text,
        "names": names,
        "widths": [w for _, _, w in second],
        "moved": moved,
        "after_top5": after,
        "p5_snippet": driver.find_element(By.ID, "p5").text,
        "console": [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"],
    }))
finally:
    driver.quit()
