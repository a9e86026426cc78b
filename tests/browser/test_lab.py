"""Chapter 1 runs in JupyterLab, driven through Lab's own menus by headless Chromium: what a reader does after `make lab`.

The server is started by the same launcher as ``make lab`` (``tools/lab.py``), on a free localhost port with a
token, serving a temporary copy of chapter 1 with its outputs cleared (the committed notebook is never opened, so
Lab's autosave cannot touch it). One extra cell at the end of the copy trains a network for a few steps, to check
that the ``tqdm.auto`` progress bar renders as a widget and leaves no output behind. The browser's network is cut
except for 127.0.0.1, as in ``test_pages.py``. The server (and its kernel) is stopped even when a test fails.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import chromium
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = ROOT / "book" / "01_why_multitask.ipynb"
LAUNCHER = ROOT / "tools" / "lab.py"
SHOTS = ROOT / "_build" / "screenshots"
KNOWN_OUTPUT = "train: (60000, 28, 28) torch.uint8"  # chapter 1 prints the sizes of the MNIST splits
PROGRESS_DONE = "progress check: 1 epoch trained"
PROGRESS_CELL = f"""\
# Added by tests/browser/test_lab.py: a short training run whose progress bar must render as a widget.
import mtl_utils as mu
check_tasks = [mu.digit_task()]
check_data = mu.TaskData.from_split(mu.load_mnist(verbose=False).train, check_tasks)
check = mu.fit(mu.HardSharingNet.for_tasks(check_tasks), check_tasks, check_data,
               recipe=mu.Recipe(epochs=1, batch_size=64), steps_per_epoch=150)
print(f"progress check: {{len(check.records)}} epoch trained")"""
# Lab settings for the test: every cell in the page (no windowing), no question about news.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
STDERR = "application/vnd.jupyter.stderr"  # Lab renders stderr and tracebacks with this MIME type
# Generous bounds: the test machine may be shared and slow. An idle 2-core machine needs about 40 s in all.
SERVER_WAIT, OPEN_WAIT, RUN_WAIT = 120, 120, 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy_chapter(folder: Path) -> Path:
    """Chapter 1 with its outputs cleared and the progress cell appended, written to ``folder``."""
    notebook = json.loads(CHAPTER.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["cells"].append({"cell_type": "code", "execution_count": None, "id": "lab-progress-check",
                              "metadata": {}, "outputs": [], "source": PROGRESS_CELL.splitlines(keepends=True)})
    path = folder / CHAPTER.name
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return path


def _post(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10).close()


def _kernel_pids(runtime: Path) -> list[int]:
    """Processes started with a connection file in ``runtime``: the kernels of this test's server."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(runtime) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


class Lab:
    """A JupyterLab server started by ``tools/lab.py``: its URL, token, root folder, and log."""

    def __init__(self, work: Path) -> None:
        self.work, self.root = work, work / "book"
        self.root.mkdir()
        self.notebook = _copy_chapter(self.root)
        for name, values in SETTINGS.items():
            path = work / "settings" / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.token = secrets.token_hex(16)
        self.runtime = work / "runtime"
        env = {**os.environ,  # MTL_DATA_DIR and MTL_MODEL_CACHE pass on to the kernel: MNIST is found offline
               "JUPYTER_TOKEN": self.token, "MTL_PROGRESS": "1",  # as `make lab`: progress bars on
               "JUPYTER_CONFIG_DIR": str(work / "config"), "JUPYTER_DATA_DIR": str(work / "data"),
               "JUPYTER_RUNTIME_DIR": str(self.runtime), "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces")}
        self.log = work / "server.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(LAUNCHER), "--no-browser", "--port", str(_free_port()), str(self.root)],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = ""

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self) -> None:
        """Read the URL the launcher prints, then wait for the server to answer at it."""
        deadline = time.monotonic() + SERVER_WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            found = re.search(r"^Open (http://127\.0\.0\.1:\d+)/lab\?token=(\w+)$", self.log_text(), re.M)
            if found:
                assert found[2] == self.token, "the launcher should print the token it was given"
                self.url = found[1]
                try:
                    urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=5).close()
                    return
                except OSError:
                    pass
            time.sleep(0.5)
        pytest.fail(f"JupyterLab did not answer within {SERVER_WAIT} s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        """Ask the server to shut down (it stops its kernels); kill it, and any kernel left, if it does not."""
        if self.proc.poll() is None:
            try:
                if self.url:
                    _post(f"{self.url}/api/shutdown?token={self.token}")
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        for pid in _kernel_pids(self.runtime):  # kernels run in their own session, outside the server's group
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = Lab(tmp_path_factory.mktemp("lab"))
    try:
        start = time.monotonic()
        server.wait_until_up()
        print(f"JupyterLab answered after {time.monotonic() - start:.0f} s")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(lab):
    """Headless Chromium as in test_pages.py; it closes before the server stops (it depends on ``lab``)."""
    chrome = chromium.start(page_load_timeout=OPEN_WAIT)
    try:
        yield chrome
    finally:
        chrome.quit()


def _code_cells(browser) -> list[dict]:
    """Every code cell in the page: its prompt ("[3]:", "[*]:", "[ ]:") and its outputs (MIME type and text)."""
    return browser.execute_script("""
        return Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell')).map(cell => ({
            prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
            outputs: Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map(out => ({
                mime: out.getAttribute('data-mime-type') || '', text: out.innerText}))}));""")


def _markdown_cells(browser) -> list[str]:
    """The text a reader sees in every rendered markdown cell (what a closed dropdown hides is not included)."""
    return browser.execute_script("""
        return Array.from(document.querySelectorAll('.jp-Notebook .jp-MarkdownCell')).map(cell => {
            const out = cell.querySelector('.jp-MarkdownOutput') || cell;
            return out.innerText;});""")


def _glossary_reference(message: str) -> bool:
    """jupyterlab-myst logs a ``{term}`` link as unresolved, because the glossary is on another page (notation.md);
    Lab shows the word as plain text. Only such messages are expected; any other console error fails the test."""
    targets = message.split("Cross reference target was not found: ")[1:]
    return bool(targets) and all(target.startswith("term-") for target in targets)


def _kernel_status(browser) -> str:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('.jp-StatusBar-Widget')).map(w => w.innerText).join(' ')")


def _click_menu(browser, menu: str, item: str) -> None:
    """Open ``menu`` in Lab's menu bar and click ``item``, with real mouse events (Lumino menus ignore JS clicks)."""
    WebDriverWait(browser, 30).until(lambda b: [e for e in b.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")
                                               if e.text == menu])[0].click()
    WebDriverWait(browser, 30).until(lambda b: [e for e in b.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")
                                               if e.text == item])[0].click()


@pytest.fixture(scope="module")
def ran(lab, browser):
    """Open the copy of chapter 1, Run All Cells from the Run menu, and wait for the kernel to finish."""
    n_code = sum(c["cell_type"] == "code" for c in json.loads(lab.notebook.read_text())["cells"])
    SHOTS.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    browser.get(f"{lab.url}/lab/tree/{lab.notebook.name}?token={lab.token}")
    try:
        WebDriverWait(browser, OPEN_WAIT).until(
            lambda b: len(_code_cells(b)) == n_code and "| Idle" in _kernel_status(b),
            message=f"the notebook did not open with an idle kernel within {OPEN_WAIT} s")
        # Record whether a progress widget ever appears (it is removed again when training ends).
        browser.execute_script("""
            window.mtlProgressSeen = false;
            new MutationObserver(() => {
                if (document.querySelector('.jp-OutputArea-output .widget-hprogress')) window.mtlProgressSeen = true;
            }).observe(document.body, {childList: true, subtree: true});""")
        print(f"chapter 1 open with an idle kernel after {time.monotonic() - start:.0f} s")
        start = time.monotonic()
        _click_menu(browser, "Run", "Run All Cells")

        def finished(b) -> bool:  # idle, nothing queued or running, and the first cell has run
            cells = _code_cells(b)
            return ("| Idle" in _kernel_status(b) and re.fullmatch(r"\[\d+\]:", cells[0]["prompt"]) is not None
                    and not any("*" in c["prompt"] for c in cells))

        WebDriverWait(browser, RUN_WAIT, poll_frequency=1).until(
            lambda b: finished(b) and (time.sleep(1) or finished(b)),  # idle for a second, not between two cells
            message=f"the kernel did not finish Run All within {RUN_WAIT} s")
        print(f"Run All Cells finished after {time.monotonic() - start:.0f} s")
        return {"cells": _code_cells(browser), "markdown": _markdown_cells(browser),
                "progress_seen": browser.execute_script("return window.mtlProgressSeen"),
                "console": [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
                            and not _glossary_reference(e["message"])],
                "performance": browser.get_log("performance")}
    finally:
        browser.save_screenshot(str(SHOTS / "lab_01_why_multitask.png"))


def test_every_cell_ran_without_error(ran):
    prompts = [c["prompt"] for c in ran["cells"]]
    assert prompts == [f"[{i}]:" for i in range(1, len(prompts) + 1)], f"cells did not all run in order: {prompts}"
    errors = [o["text"] for c in ran["cells"] for o in c["outputs"] if o["mime"] == STDERR]
    assert not errors, "cells wrote errors or warnings:\n" + "\n".join(errors)
    assert not ran["console"], "console errors in JupyterLab:\n" + "\n".join(ran["console"])


def test_known_output_appears(ran):
    texts = [o["text"] for c in ran["cells"] for o in c["outputs"]]
    assert any(KNOWN_OUTPUT in t for t in texts), f"{KNOWN_OUTPUT!r} is not among the outputs: {texts}"


def test_progress_bar_is_a_widget_and_leaves_a_clean_output(ran):
    assert ran["progress_seen"], "the training cell's progress bar never rendered as a widget"
    last = ran["cells"][-1]["outputs"]
    shown = [o["text"].strip() for o in last if o["text"].strip()]
    assert shown == [PROGRESS_DONE], f"the training cell should end with only its printed line, shows {shown}"


def test_no_request_leaves_localhost(ran):
    remote = chromium.remote_requests(ran["performance"])
    assert not remote, "requests outside localhost:\n" + "\n".join(remote)


def test_the_books_markup_renders_and_solutions_stay_closed(ran):
    # jupyterlab-myst renders the book's MyST: no directive shows as raw text, and a solution's body stays hidden
    # until the reader opens it.
    text = "\n".join(ran["markdown"])
    for raw in ("```{exercise}", "```{solution}", ":label:", ":class: dropdown", "{footcite}", "{doc}"):
        assert raw not in text, f"{raw!r} shows as raw text in JupyterLab"
    nb = json.loads(CHAPTER.read_text())
    solution = next("".join(c["source"]) for c in nb["cells"] if "```{solution}" in "".join(c["source"]))
    body = solution.split(":class: dropdown", 1)[1].strip().split("\n")[0][:60]
    assert body and body not in text, f"the solution's first line is visible before it is opened: {body!r}"
