"""The browser as judge: every shared page opened in headless Chromium with the network cut.

A page's source can hide a request from any static reading (a URL built by a script from
pieces, a timer, a redirect), but not from the browser that opens it. :class:`PageJudge`
starts Chromium (the one the project prints with, :func:`protection_eval.runs.pdf.chromium_path`)
and speaks the DevTools protocol to it over a pipe (``--remote-debugging-pipe``: no port, no
extra package). For each page it:

- opens the file in a fresh browser context, with every request paused before it is sent
  (``Fetch``): one that stays in the file (``data:``, ``blob:``, ``about:``, or a ``file:`` URL
  inside the audited folder) goes on, any other is recorded and failed, so nothing leaves the
  machine; web sockets and new windows are recorded too;
- lets the page's timers run on virtual time (``Emulation.setVirtualTimePolicy``), 30 virtual
  seconds after the load, so a request made after a delay is made during the audit;
- follows frames, workers and pop-ups the page opens (auto-attach), with the same rules.

Chromium runs with DNS resolution mapped to nothing and a proxy on a closed loopback port, so a
request the protocol did not pause still cannot reach a server. A page that does not finish in
time is reported, never passed. The page's scripts run: without the sandbox when the audit
runs as root, which Chromium requires.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["BrowserUnavailable", "PageJudge", "PageVerdict", "judge_pages"]

#: Flags that keep Chromium off the network whatever a page asks.
JUDGE_FLAGS: tuple[str, ...] = (
    "--headless",
    "--remote-debugging-pipe",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
_STAYS = ("data:", "blob:", "about:", "chrome-error:", "javascript:", "devtools:", "chrome:",
          "chrome-untrusted:")
_VIRTUAL_MS = 30_000
#: Real seconds a page has by default to load and run its virtual 30 seconds; a page still
#: busy then (a script that never yields) is a file the audit cannot read.
PAGE_TIMEOUT_S = 20.0


class BrowserUnavailable(RuntimeError):
    """Chromium could not be started or stopped answering; the message says why."""


@dataclass
class PageVerdict:
    """What one page did when opened.

    Attributes
    ----------
    file : str
        The page, relative to the audited folder.
    requests : list of str
        URLs it asked for that leave the file (another server, a network share, a file outside
        the audited folder), in order, once each.
    problem : str or None
        Why the page could not be judged (it did not finish in time, the browser failed).
    """

    file: str
    requests: list[str] = field(default_factory=list)
    problem: str | None = None


def _stays(url: str, folder: Path) -> bool:
    """Whether a requested URL stays in the file or the audited folder."""
    if url.startswith(_STAYS) or not url:
        return True
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return False
    try:
        Path(unquote(parts.path)).resolve().relative_to(folder)
    except ValueError:
        return False
    return True


class _Pipe:
    """A Chromium process and the DevTools protocol over its pipe (fds 3 and 4)."""

    def __init__(self, chromium: Path, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.profile = tempfile.mkdtemp(prefix="pe-audit-chromium-")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        flags = [*JUDGE_FLAGS, f"--user-data-dir={self.profile}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--no-sandbox")
        # The pipe must be the browser's fds 3 and 4: handed over as standard input and output
        # and moved there by the shell (no Python code runs between fork and exec).
        command = ["/bin/sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>/dev/null', "sh",
                   str(chromium), *flags, "about:blank"]
        try:
            self.process = subprocess.Popen(command, stdin=to_browser_r, stdout=from_browser_w,
                                            stderr=subprocess.DEVNULL)
        except OSError as exc:
            for fd in (to_browser_r, to_browser_w, from_browser_r, from_browser_w):
                os.close(fd)
            shutil.rmtree(self.profile, ignore_errors=True)
            raise BrowserUnavailable(f"{chromium} could not be started: {exc}") from None
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.write = to_browser_w
        self.read = from_browser_r
        self.buffer = b""
        self.next_id = 0
        # Called with each event met while waiting for an answer (a paused request must be
        # let go or failed before the navigation that waits on it can answer).
        self.on_event: Any = None

    def close(self) -> None:
        for fd in (self.write, self.read):
            try:
                os.close(fd)
            except OSError:
                pass
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self.write, data):]
        except OSError as exc:
            raise BrowserUnavailable(f"chromium stopped answering: {exc}") from None
        return self.next_id

    def receive(self, deadline: float) -> dict[str, Any] | None:
        """Return the next message, or None at the deadline."""
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.read], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.read, 1 << 16)
            if not chunk:
                code = self.process.poll()
                raise BrowserUnavailable("chromium closed its pipe" + (
                    "" if code is None else f" (it exited with code {code})"))
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             ) -> dict[str, Any]:
        """Send a command and wait for its answer; events met meanwhile go to ``on_event``."""
        number = self.send(method, params, session)
        deadline = time.monotonic() + self.timeout_s
        while True:
            message = self.receive(deadline)
            if message is None:
                raise BrowserUnavailable(f"chromium did not answer {method} in time")
            if message.get("id") == number:
                if "error" in message:
                    raise BrowserUnavailable(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            if self.on_event is not None and "method" in message:
                self.on_event(message)


class PageJudge:
    """A headless Chromium that opens pages with the network cut and says what they asked for.

    Use as a context manager; :meth:`judge` opens one page.

    Parameters
    ----------
    chromium : Path
        The browser's executable.
    folder : Path
        The audited folder: ``file:`` URLs inside it stay, others leave.
    timeout_s : float or None
        Real seconds a page has to load and run its virtual 30 seconds; None for
        :data:`PAGE_TIMEOUT_S`.
    """

    def __init__(self, chromium: Path, folder: Path, *, timeout_s: float | None = None) -> None:
        self.chromium = chromium
        self.folder = folder.resolve()
        self.timeout_s = PAGE_TIMEOUT_S if timeout_s is None else timeout_s
        self.pipe: _Pipe | None = None
        self._verdict = PageVerdict("")
        self._session: str | None = None
        self._context: str | None = None
        self._expired = False

    def __enter__(self) -> PageJudge:
        self.pipe = _Pipe(self.chromium, self.timeout_s)
        try:
            self.pipe.call("Target.setDiscoverTargets", {"discover": True})
        except BrowserUnavailable:
            self.pipe.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pipe is not None:
            self.pipe.close()

    def judge(self, name: str, path: Path) -> PageVerdict:
        """Open one page; return the requests that left the file, or why it was not judged."""
        pipe = self.pipe
        assert pipe is not None, "use PageJudge as a context manager"
        verdict = PageVerdict(name)
        self._verdict, self._session, self._expired = verdict, None, False
        pipe.on_event = self._handle
        context = pipe.call("Target.createBrowserContext", {"disposeOnDetach": True})
        context_id = self._context = context["browserContextId"]
        try:
            target = pipe.call("Target.createTarget",
                               {"url": "about:blank", "browserContextId": context_id})
            session = pipe.call("Target.attachToTarget",
                                {"targetId": target["targetId"], "flatten": True})["sessionId"]
            self._session = session
            for method, params in self._watching():
                pipe.call(method, params, session)
            pipe.call("Page.navigate", {"url": path.resolve().as_uri()}, session)
            pipe.call("Emulation.setVirtualTimePolicy",
                      {"policy": "pauseIfNetworkFetchesPending", "budget": _VIRTUAL_MS}, session)
            if not self._run_until_budget():
                verdict.problem = (f"did not finish opening in Chromium within "
                                   f"{self.timeout_s:g} s")
        except BrowserUnavailable as exc:
            verdict.problem = f"could not be opened in Chromium: {exc}"
        finally:
            pipe.on_event = None
            try:
                pipe.call("Target.disposeBrowserContext", {"browserContextId": context_id})
            except BrowserUnavailable:
                pass
        return verdict

    @staticmethod
    def _watching() -> list[tuple[str, dict[str, Any]]]:
        """Pause every request of a target; attach to the frames and workers it opens."""
        return [
            ("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}),
            ("Network.enable", {}),
            ("Target.setAutoAttach",
             {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}),
        ]

    def _note(self, url: str) -> None:
        verdict = self._verdict
        if not _stays(url, self.folder) and url not in verdict.requests:
            verdict.requests.append(url)

    def _handle(self, message: dict[str, Any]) -> None:
        pipe = self.pipe
        assert pipe is not None
        method = message.get("method", "")
        params = message.get("params", {})
        source = message.get("sessionId")
        if method == "Emulation.virtualTimeBudgetExpired" and source == self._session:
            self._expired = True
        elif method == "Fetch.requestPaused":
            url = params["request"]["url"]
            self._note(url)
            if _stays(url, self.folder):
                pipe.send("Fetch.continueRequest", {"requestId": params["requestId"]}, source)
            else:
                pipe.send("Fetch.failRequest", {"requestId": params["requestId"],
                                                "errorReason": "BlockedByClient"}, source)
        elif method == "Network.requestWillBeSent":
            self._note(params["request"]["url"])
        elif method in ("Network.webSocketCreated", "Network.webTransportCreated"):
            self._note(params.get("url", ""))
        elif method in ("Target.targetCreated", "Target.targetInfoChanged"):
            info = params.get("targetInfo", {})
            if info.get("browserContextId") == self._context:  # a window the page opened
                self._note(info.get("url", ""))
        elif method == "Target.attachedToTarget":
            child = params["sessionId"]
            self._note(params.get("targetInfo", {}).get("url", ""))
            # Sent, not awaited: answers come back as this loop goes on. A worker without
            # the Fetch domain answers with an error; its requests are still seen (Network).
            for name, arguments in self._watching():
                pipe.send(name, arguments, child)
            pipe.send("Runtime.runIfWaitingForDebugger", {}, child)

    def _run_until_budget(self) -> bool:
        pipe = self.pipe
        assert pipe is not None
        deadline = time.monotonic() + self.timeout_s
        while not self._expired:
            message = pipe.receive(deadline)
            if message is None:
                return False
            if "method" in message:
                self._handle(message)
        return True


def judge_pages(chromium: Path, folder: Path, pages: Iterable[tuple[str, Path]], *,
                timeout_s: float | None = None) -> list[PageVerdict]:
    """Open each page in one headless Chromium with the network cut; say what each asked for.

    Parameters
    ----------
    chromium : Path
        The browser's executable.
    folder : Path
        The audited folder (a ``file:`` URL inside it stays).
    pages : iterable of (str, Path)
        Each page's name (relative to ``folder``) and path.
    timeout_s : float or None
        Real seconds each page has; None for :data:`PAGE_TIMEOUT_S`.

    Returns
    -------
    list of PageVerdict
        One per page, in order.

    Raises
    ------
    BrowserUnavailable
        When Chromium cannot be started or stops answering.
    """
    with PageJudge(chromium, folder, timeout_s=timeout_s) as judge:
        return [judge.judge(name, path) for name, path in pages]
