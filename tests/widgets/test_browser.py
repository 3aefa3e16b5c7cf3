"""The live budget widget in a real browser (Debian Chromium through Playwright): JupyterLab and a marimo app.

Each test starts its own server on 127.0.0.1 (free port, token), opens the budget-forcing notebook, moves the
budget slider, presses Run and checks what a user sees: streamed text with a marked forced "Wait", and a
thinking-token counter that grows against the new budget. The embedded SmolLM2-135M is used (it tries to end
thinking at once, so ``num_ignore = 1`` forces a visible Wait) with tiny budgets. Screenshots of every step go
to ``artifacts/screenshots/``. Servers are stopped by the test, with bounded waits.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
VENV_BIN = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Records every distinct counter text with its time, so growth is seen even between two polls.
COUNTER_OBSERVER = """() => {
  window.__s1counters = [];
  const record = () => {
    const el = document.querySelector('.s1-counter');
    const text = el ? el.textContent : null;
    const log = window.__s1counters;
    if (text && (!log.length || log[log.length - 1][1] !== text)) log.push([performance.now(), text]);
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
  record();
}"""

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.model]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(cmd: list[str], url: str, log: Path, env: dict[str, str] | None = None, timeout: float = 120) -> Iterator:
    """Start a server, wait until ``url`` answers, and always stop it (SIGTERM, then SIGKILL after 20 s)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("S1_SKIP_BROWSER") == "1":
            pytest.skip("S1_SKIP_BROWSER=1 and no chromium on PATH")
        pytest.fail("chromium is not installed: run env/setup.sh (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_for_done(page, name: str, timeout: float = 300) -> list[str]:
    """Wait until the counter says the stream is done; returns every distinct counter text seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = page.evaluate("() => window.__s1counters")
        if log and re.search(r"· (done|stopped)$", log[-1][1]):
            return [text for _, text in log]
        page.wait_for_timeout(250)
    shot(page, f"{name}-timeout")
    raise TimeoutError(f"{name}: the stream did not finish within {timeout} s; counters seen: {log}")


def check_stream(page, counters: list[str], budget: int, name: str) -> None:
    """What the user must see: a counter that grew against the new budget, a marked Wait, an answer line."""
    counts = [int(re.match(r"(\d+) / (\d+) thinking tokens", c).group(1)) for c in counters]
    budgets = {int(re.match(r"\d+ / (\d+)", c).group(1)) for c in counters}
    assert budgets == {budget}, f"{name}: the run did not use the slider's budget {budget}: {counters}"
    assert counts == sorted(counts) and len(set(counts)) >= 3, f"{name}: the counter did not grow: {counters}"
    assert 0 < counts[-1] <= budget
    stream = page.locator(".s1-stream").first
    wait = stream.locator(".s1-forced-wait")
    assert wait.count() >= 1, f"{name}: no forced Wait is marked in {stream.inner_text()!r}"
    assert wait.first.inner_text().strip() == "Wait"
    assert wait.first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"  # visibly coloured
    assert len(stream.inner_text()) > len("Wait")
    assert page.locator(".s1-extracted").first.inner_text().startswith("Answer:")


def choose_kernel_if_asked(page, kernel: str = "s1 (s1lib)") -> None:
    """JupyterLab may ask for a kernel on first open (it did here, with the s1 kernel already chosen)."""
    dialog = page.locator(".jp-Dialog")
    try:
        dialog.wait_for(timeout=15_000)
    except Exception:  # no dialog: the notebook's kernelspec was taken as is
        return
    if dialog.locator("select").count():
        dialog.locator("select").first.select_option(label=kernel)
    dialog.get_by_role("button", name="Select").click()
    dialog.wait_for(state="detached", timeout=15_000)


def drag_slider(page, widget: str, start: int, target: int, maximum: int) -> int:
    """Drag an ipywidgets slider's handle with the mouse towards ``target``; returns the value it shows."""
    track = page.locator(f"{widget} .noUi-target").first.bounding_box()
    handle = page.locator(f"{widget} .noUi-handle").first.bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + (target - start) / maximum * track["width"], y, steps=5)
    page.mouse.up()
    return int(page.locator(f"{widget} .widget-readout").first.inner_text())


def test_jupyterlab_budget_widget(browser, tmp_path: Path):
    from papermill.iorw import load_notebook_node, write_ipynb
    from papermill.parameterize import parameterize_notebook

    root = tmp_path / "notebooks"
    # Without the jupytext sources: the parameterized copy would differ from its paired .py, which jupytext reports
    # (a user opening the repository's notebooks sees no dialog: tests/notebooks/test_notebooks.py keeps the pair
    # equal).
    shutil.copytree(REPO / "notebooks", root, ignore=shutil.ignore_patterns("marimo", "__pycache__", "*.py"))
    nb = load_notebook_node(str(root / "03_budget_forcing.ipynb"))
    params = {
        "model": "default",
        "question": "What is 2+3?",
        "max_thinking_tokens": 16,
        "num_ignore": 1,
        "max_answer_tokens": 8,
        "budgets": [8],
        "output_dir": str(tmp_path / "out"),
    }
    write_ipynb(parameterize_notebook(nb, params), str(root / "03_budget_forcing.ipynb"))
    port, token = free_port(), "s1-browser-test"
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    cmd = [
        str(VENV_BIN / "jupyter"), "lab", "--ip=127.0.0.1", f"--port={port}", "--no-browser",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    base = f"http://127.0.0.1:{port}"
    with server(cmd, f"{base}/api/status?token={token}", tmp_path / "lab.log", env):
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        try:
            page.goto(f"{base}/lab/tree/03_budget_forcing.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            choose_kernel_if_asked(page)
            no_news = page.get_by_role("button", name="No", exact=True)  # the "Jupyter news?" toast
            if no_news.count():
                no_news.first.click()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            page.wait_for_selector(".s1-run", timeout=240_000)
            page.wait_for_selector("text=--- cap 8", timeout=240_000)
            # Every cell ran and the kernel is free: slider updates queue behind a busy kernel, and a Run click
            # sent meanwhile would overtake them.
            page.wait_for_function(
                """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                          .every(p => /\\[\\d+\\]/.test(p.textContent))""",
                timeout=240_000,
            )
            page.locator(".s1-run").first.scroll_into_view_if_needed()
            shot(page, "jupyterlab-1-widget")
            budget = drag_slider(page, ".s1-budget", 16, 24, 256)
            assert budget > 16, f"the slider did not move: {budget}"
            page.wait_for_timeout(1000)  # let the slider's value reach the kernel
            page.evaluate(COUNTER_OBSERVER)
            page.locator(".s1-run").first.click()
            counters = wait_for_done(page, "jupyterlab")
            page.locator(".s1-output").first.scroll_into_view_if_needed()
            shot(page, "jupyterlab-2-streamed")
            check_stream(page, counters, budget, "jupyterlab")
        except Exception:
            shot(page, "jupyterlab-failure")
            raise
        finally:
            page.close()


def test_marimo_app_budget_widget(browser, tmp_path: Path):
    port, token = free_port(), "s1-browser-test"
    cmd = [
        str(VENV_BIN / "marimo"), "run", str(REPO / "notebooks/marimo/03_budget_forcing.py"), "--host", "127.0.0.1",
        "-p", str(port), "--headless", "--token-password", token, "--",
        "--model", "default", "--output-dir", str(tmp_path / "out"), "--budgets", "8", "--max-thinking-tokens", "16",
        "--max-answer-tokens", "8",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with server(cmd, f"{base}/health", tmp_path / "marimo.log"):
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        try:
            page.goto(f"{base}/?access_token={token}")
            page.wait_for_selector("text=Press Run to generate", timeout=240_000)  # the model is loaded
            page.locator("textarea").first.fill("What is 2+3?")
            slider = page.locator("[role=slider]").first
            slider.focus()
            for _ in range(8):
                slider.press("ArrowRight")
            assert slider.get_attribute("aria-valuenow") == "24"
            waits = page.locator("[role=slider]").nth(1)  # one suppressed end: a forced "Wait"
            waits.focus()
            waits.press("ArrowRight")
            assert waits.get_attribute("aria-valuenow") == "1"
            page.wait_for_timeout(1000)
            shot(page, "marimo-1-app")
            page.evaluate(COUNTER_OBSERVER)
            page.get_by_role("button", name="Run").click()
            counters = wait_for_done(page, "marimo")
            shot(page, "marimo-2-streamed")
            check_stream(page, counters, 24, "marimo")
        except Exception:
            shot(page, "marimo-failure")
            raise
        finally:
            page.close()
