"""Headless Chromium for the browser tests: Debian's chromium and chromium-driver, network cut except 127.0.0.1."""
from __future__ import annotations

import json
import shutil
from urllib.parse import urlparse

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

LOCAL_SCHEMES = {"data", "blob", "about"}


def start(page_load_timeout: float) -> webdriver.Chrome:
    """A headless Chromium whose every host name fails to resolve except 127.0.0.1, with console and network logs."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail("Chromium is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--window-size=1280,1600",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.set_page_load_timeout(page_load_timeout)
    return chrome


def remote_requests(performance_log: list[dict]) -> list[str]:
    """URLs (requests and websockets) in a performance log that are neither on 127.0.0.1 nor inline (data:, blob:)."""
    remote = []
    for entry in performance_log:
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            url = urlparse(message["params"].get("request", message["params"]).get("url", ""))
            if url.scheme not in LOCAL_SCHEMES and url.hostname != "127.0.0.1":
                remote.append(url.geturl())
    return remote
