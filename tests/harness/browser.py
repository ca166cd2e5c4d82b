"""A real browser for the report's tests: headless Chromium driven over its DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages ended by NUL, commands on fd 3, answers on fd 4), so no
WebSocket library and no network port are needed.

    with Browser(profile_dir) as browser:
        page = browser.open(url, width=1280, height=800)
        page.evaluate("document.title"); page.screenshot(path); page.console_errors

Every wait is bounded (TIMEOUT_S); the browser is killed on exit whatever happened."""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time

TIMEOUT_S = 90
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe"]


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _above_4(fds):
    """The pipe's ends moved above fd 4, so that moving them onto 3 and 4 in the child clobbers neither."""
    moved = []
    for fd in fds:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        moved.append(high)
    return moved


class Browser:
    def __init__(self, profile_dir):
        self.profile_dir = profile_dir
        self.process = None
        self.next_id = 0
        self.buffer = b""
        self.events = []

    def __enter__(self):
        to_browser_read, self.to_browser = _above_4(os.pipe())
        self.from_browser, from_browser_write = _above_4(os.pipe())
        # Chromium wants the pipe ends as fd 3 (its commands) and fd 4 (its answers): the shell moves them.
        moved = (f'exec "$0" "$@" 3<&{to_browser_read} 4>&{from_browser_write} '
                 f'{to_browser_read}<&- {from_browser_write}>&-')
        self.process = subprocess.Popen(["bash", "-c", moved, chromium_path(), *FLAGS,
                                         f"--user-data-dir={self.profile_dir}", "about:blank"],
                                        pass_fds=(to_browser_read, from_browser_write),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        return self

    def __exit__(self, *exc):
        try:
            self.send("Browser.close")
        except Exception:  # already gone: nothing to close
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)

    def send(self, method, params=None, session=None):
        """Sends a command and returns its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._receive()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, method, session, deadline):
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(index)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {TIMEOUT_S} s")
            self.events.append(self._receive(deadline))

    def _receive(self, deadline=None):
        deadline = deadline or time.monotonic() + TIMEOUT_S
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.from_browser], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError(f"Chromium said nothing within {TIMEOUT_S} s")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url, width, height):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        self.send("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", session, time.monotonic() + TIMEOUT_S)
        return Page(self, session)


class Page:
    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def evaluate(self, expression):
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path):
        data = self.browser.send("Page.captureScreenshot", {"format": "png"}, self.session)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    @property
    def console_errors(self):
        """Console errors, uncaught exceptions and browser log errors (a failed load, a blocked resource)."""
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value")) for a in params.get("args", [])))
            elif event.get("method") == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails", {}).get("text")))
            elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(str(params["entry"].get("text")))
        return found
