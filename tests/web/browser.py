"""mstag-live's page in headless Chromium (Debian `chromium` + `chromium-driver`), driven by
Selenium. Usage: browser.py PAGE_URL SCREENSHOT.png [--stay SECONDS]. Prints one JSON object
of what it saw; tests/web.rs asserts on it. With --stay (for `cargo xtask bench`) it waits for
the page to be served, keeps it open that long, and reports how many messages it received.
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
STAY = float(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--stay" else None


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
    wait = WebDriverWait(driver, 20)
    if STAY is not None:
        # The server may not listen yet: try until the page is there.
        t0 = time.monotonic()
        while True:
            try:
                driver.get(URL)
                if driver.title == "mstag live":
                    break
            except Exception:
                pass
            if time.monotonic() - t0 > 30:
                raise SystemExit(f"{URL} never served the page")
            time.sleep(0.3)
        wait.until(lambda d: d.find_element(By.ID, "status").text == "connected")
        time.sleep(STAY)
        print(json.dumps({"messages": int(driver.execute_script("return document.body.dataset.messages || 0"))}))
        raise SystemExit(0)
    driver.get(URL)
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
