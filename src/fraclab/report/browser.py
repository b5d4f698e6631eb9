"""Check that the report renders in headless Chromium with no network and every image loads.

``python -m fraclab.report.browser report/index.html [--chromium PATH] [--screenshot PNG]``

First a static check (:func:`static_problems`, no browser): no script, stylesheet link or
external URL, and every ``<img>`` a PNG ``data:`` URI that decodes.

The report itself carries no script. The check renders a temporary copy with one small
script appended that, after the load event, writes into the page how many ``<img>`` decoded
(``complete`` and ``naturalWidth > 0``) and which resources (other than ``data:`` URIs) the
page asked for; Chromium's ``--dump-dom`` prints that. Networking is cut off: every host
name resolves to nothing and every connection goes to an unreachable proxy, so a page that
needed the network would show missing images or requested resources.

Debian's package is ``chromium`` (``apt-get install chromium``); not installed in CI.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

DEFAULT_CHROMIUM = "/usr/bin/chromium"
PROBE = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const result = {
    images: images.length,
    decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    sizes: images.map(i => [i.naturalWidth, i.naturalHeight]),
    requested: performance.getEntriesByType("resource").map(e => e.name)
      .filter(n => !n.startsWith("data:")),
    sections: document.querySelectorAll("section h2").length,
  };
  const out = document.createElement("pre");
  out.id = "fraclab-probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>
"""
# Flags: headless, no sandbox (root in containers), a throwaway profile, and no network:
# every name resolves to nothing, every connection would go to a dead local port.
OFFLINE_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-extensions", "--disable-background-networking", "--disable-sync",
    "--disable-component-update", "--disable-default-apps",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)


class _Scanner(HTMLParser):
    """Collects what could make a page reach outside itself."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.images: list[str] = []  # src of every <img>
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link", "iframe", "object", "embed", "base", "video", "audio",
                   "source"):
            self.problems.append(f"<{tag}> element")
        self._in_style = tag == "style"
        for name, value in attrs:
            value = (value or "").strip()
            if tag == "img" and name == "src":
                self.images.append(value)
            elif tag == "a" and name == "href" and _relative(value):
                continue  # a link to a file beside the report loads nothing itself
            elif name in ("src", "srcset", "href", "action", "poster", "data") and not (
                    value.startswith("#") or value.startswith("data:")):
                self.problems.append(f"<{tag} {name}={value[:60]!r}>: not local")
            elif name == "style" and "url(" in value:
                self.problems.append(f"<{tag} style> loads {value[:60]!r}")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False if tag == "style" else self._in_style

    def handle_data(self, data: str) -> None:
        if self._in_style and ("url(" in data or "@import" in data):
            self.problems.append("<style> loads a resource (url() or @import)")


def _relative(url: str) -> bool:
    """A path relative to the page: no scheme, no host, not rooted."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return bool(url) and not (parts.scheme or parts.netloc or url.startswith("/"))


def static_problems(html: str) -> list[str]:
    """Reasons the page would not open offline: external URLs, scripts, non-PNG images.

    Every ``<img>`` must be a ``data:image/png;base64`` URI whose bytes open as a PNG.
    """
    scanner = _Scanner()
    scanner.feed(html)
    problems = list(scanner.problems)
    if not scanner.images:
        problems.append("no <img> at all")
    for k, src in enumerate(scanner.images, start=1):
        prefix = "data:image/png;base64,"
        if not src.startswith(prefix):
            problems.append(f"image {k}: src is not a PNG data URI ({src[:40]!r})")
            continue
        try:
            data = base64.b64decode(src[len(prefix):], validate=True)
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
                if image.format != "PNG" or min(image.size) < 1:
                    raise ValueError(f"{image.format} {image.size}")
        except (ValueError, OSError) as err:
            problems.append(f"image {k}: not a decodable PNG ({err})")
    return problems


class BrowserCheckError(RuntimeError):
    """Chromium is missing, failed, or the page did not render as required."""


@dataclass(frozen=True)
class RenderResult:
    """What the probe saw in the rendered page."""

    images: int
    decoded: int
    broken: list[str]
    sizes: list[list[int]]
    requested: list[str]
    sections: int

    def problems(self) -> list[str]:
        """Everything wrong with the render (empty when the page is fine)."""
        found = []
        if self.images == 0:
            found.append("the page has no images")
        if self.decoded != self.images:
            found.append(f"{self.images - self.decoded} of {self.images} images did not "
                         f"decode: {self.broken}")
        if self.requested:
            found.append(f"the page requested resources: {self.requested}")
        if self.sections == 0:
            found.append("no section headings rendered")
        return found


def render(html: Path, chromium: str = DEFAULT_CHROMIUM, screenshot: Path | None = None,
           timeout: float = 120.0) -> RenderResult:
    """Render ``html`` offline in headless Chromium and return what the probe saw."""
    if not Path(chromium).exists() and shutil.which(chromium) is None:
        raise BrowserCheckError(f"{chromium}: not found (Debian: apt-get install chromium)")
    text = html.read_text(encoding="utf-8")
    if "</body>" not in text:
        raise BrowserCheckError(f"{html}: no </body>; not a complete HTML page")
    with tempfile.TemporaryDirectory(prefix="fraclab-browser-") as tmp_name:
        tmp = Path(tmp_name)
        probe = tmp / "index.html"
        probe.write_text(text.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
        base = [chromium, *OFFLINE_FLAGS, f"--user-data-dir={tmp / 'profile'}",
                "--virtual-time-budget=20000"]
        dom = _run([*base, "--dump-dom", probe.as_uri()], timeout)
        if screenshot is not None:
            _run([*base, f"--screenshot={screenshot.resolve()}", "--window-size=1280,4000",
                  "--hide-scrollbars", html.resolve().as_uri()], timeout)
    match = re.search(r'<pre id="fraclab-probe">(.*?)</pre>', dom, re.S)
    if not match:
        raise BrowserCheckError("the probe did not run: the page never finished loading")
    data = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">"))
    return RenderResult(**data)


def _run(cmd: list[str], timeout: float) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BrowserCheckError(f"chromium did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise BrowserCheckError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, nargs="?", default=Path("report/index.html"))
    parser.add_argument("--chromium", default=DEFAULT_CHROMIUM)
    parser.add_argument("--screenshot", type=Path, default=None,
                        help="also save a screenshot of the top 1280 x 4000 px")
    args = parser.parse_args(argv)
    static = static_problems(args.html.read_text(encoding="utf-8"))
    for problem in static:
        print(f"FAIL: {problem}", file=sys.stderr)
    try:
        result = render(args.html, args.chromium, args.screenshot)
    except BrowserCheckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.html}: {result.decoded}/{result.images} images decoded "
          f"({', '.join(f'{w}x{h}' for w, h in result.sizes)}), {result.sections} sections, "
          f"{len(result.requested)} network requests")
    for problem in result.problems():
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if result.problems() or static else 0


if __name__ == "__main__":
    sys.exit(main())
