#!/usr/bin/env python3
"""The built site in a real browser: Debian's chromium driven by Playwright for Python.

    python tools/docs_browser.py check [HTML_DIR] [PAGE ...]    the checks below, on each page
                                                                (default: every page but the API's)
    python tools/docs_browser.py screenshot [HTML_DIR] PAGE PNG  a screenshot of one page

HTML_DIR defaults to docs/_build/html (``make docs``).  The site is served on 127.0.0.1 (a
free port) and the browser is Playwright's launch of an existing chromium
(``executable_path``, :data:`CHROMIUM`, or ``$DLTUT_CHROMIUM``): Playwright's own browser
download cannot run here.  tests/docs/test_browser.py runs the checks; ``make
docs-screenshot`` writes docs/_static/screenshot-logreg.png.

The checks of one page (:func:`check_page`), each a list of problems (empty: passed):

- every request goes to the site's own server (127.0.0.1, its port), a ``file://`` or
  ``data:`` URL; any other is recorded and aborted, and an answer of 400 or more is a problem;
- no console error and no uncaught exception;
- math typeset: the page's math elements (``.math``, as Sphinx writes them) each hold
  MathJax's output (``mjx-container``), and no raw TeX (``$$``, ``\\frac``, ``\\(`` ...)
  is left in the visible text outside code blocks;
- every ``<img>`` loaded (``naturalWidth > 0``);
- optionally, a code block holding a given text (``class LogisticRegression``).
"""
import contextlib
import functools
import http.server
import os
import re
import sys
import threading
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = os.environ.get("DLTUT_CHROMIUM", "/usr/bin/chromium")
DEFAULT_HTML = os.path.join(ROOT, "docs", "_build", "html")

# TeX a reader should never see: a display or inline delimiter, or a control word.
RAW_TEX = re.compile(r"\$\$|\\[()\[\]]|\\[A-Za-z]{2,}|\$[^\s$][^$\n]*\$")

# Waits for the page (images, MathJax) to settle; returns what the checks need.
_INSPECT = r"""
async () => {
  for (const img of document.images) img.loading = "eager";
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(done => { img.addEventListener("load", done);
                            img.addEventListener("error", done); })));
  let mathjax = "absent";
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    mathjax = MathJax.version || "present";
  }
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const text = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    if (!parent.getClientRects().length) continue;          // not displayed
    const style = getComputedStyle(parent);
    if (style.visibility === "hidden" || style.display === "none") continue;
    text.push(node.textContent);
  }
  const math = [...document.querySelectorAll(".math")];
  return {
    mathjax: mathjax,
    math: math.length,
    untypeset: math.filter(el => !el.querySelector("mjx-container"))
                   .map(el => el.textContent.trim().slice(0, 80)),
    typeset: document.querySelectorAll("mjx-container").length,
    text: text.join(" "),
    images: [...document.images].map(img => ({src: img.currentSrc || img.src,
                                                width: img.naturalWidth})),
    code: [...document.querySelectorAll("pre")].map(pre => pre.textContent),
  };
}
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory):
    """Serve ``directory`` on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def chromium_missing():
    """Why the browser checks cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (the docs extra: make venv EXTRAS=docs)"
    if not os.access(CHROMIUM, os.X_OK):
        return ("%s is absent (Debian: apt-get install chromium, as root; make test does "
                "that where it can)" % CHROMIUM)
    return None


@contextlib.contextmanager
def browser():
    """A headless chromium (:data:`CHROMIUM`) under Playwright."""
    from playwright.sync_api import sync_playwright
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield chrome
        finally:
            chrome.close()


def _allowed(url, base):
    parsed, own = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    if parsed.scheme in ("data", "file", "blob", "about"):
        return True
    return parsed.scheme in ("http", "https") and parsed.netloc == own.netloc


def open_page(chrome, base, path, width=1280, height=900):
    """A new page showing ``base + path``, with every request routed and recorded.

    Returns ``(page, record)``; ``record`` holds the lists ``requests`` (every URL asked
    for), ``outside`` (those aborted: not the site's server, file:// or data:), ``failed``
    (an HTTP status >= 400, or a request that failed) and ``console`` (console errors and
    uncaught exceptions).
    """
    record = {"requests": [], "outside": [], "failed": [], "console": []}
    context = chrome.new_context(viewport={"width": width, "height": height})

    def route(r):
        url = r.request.url
        record["requests"].append(url)
        if _allowed(url, base):
            r.continue_()
        else:
            record["outside"].append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda msg: msg.type == "error" and record["console"].append(
        "console error: %s" % msg.text))
    page.on("pageerror", lambda exc: record["console"].append("uncaught exception: %s" % exc))
    page.on("response", lambda resp: resp.status >= 400 and record["failed"].append(
        "HTTP %d: %s" % (resp.status, resp.url)))
    page.on("requestfailed", lambda req: req.url not in record["outside"] and
            record["failed"].append("failed (%s): %s" % (req.failure, req.url)))
    page.goto(urllib.parse.urljoin(base, path), wait_until="load")
    return page, record


def check_page(chrome, base, path, code=None, math=False):
    """The problems of page ``path`` of the site at ``base`` (an empty list: none).

    ``code``: a text some code block must hold; ``math``: the page must have typeset math.
    """
    page, record = open_page(chrome, base, path)
    try:
        seen = page.evaluate(_INSPECT)
        page.wait_for_timeout(200)     # late console messages
    finally:
        page.context.close()
    problems = ["request outside the site: %s" % url for url in record["outside"]]
    problems += record["failed"] + record["console"]
    if math and not seen["math"]:
        problems.append("no math on the page")
    if seen["math"] and seen["mathjax"] == "absent":
        problems.append("%d math elements and no MathJax" % seen["math"])
    problems += ["math not typeset: %r" % text for text in seen["untypeset"]]
    problems += ["raw TeX in the text: %r" % m.group(0) for m in RAW_TEX.finditer(seen["text"])]
    problems += ["image not loaded: %s" % img["src"] for img in seen["images"]
                 if not img["width"]]
    if code is not None and not any(re.search(r"(?<!\w)%s(?!\w)" % re.escape(code), block)
                                    for block in seen["code"]):
        problems.append("no code block holds %r" % code)
    return problems


def screenshot(html_dir, path, png, width=1200, height=1500):
    """Write a PNG of page ``path`` of the site in ``html_dir`` (after MathJax has run)."""
    with serve(html_dir) as base, browser() as chrome:
        page, record = open_page(chrome, base, path, width, height)
        page.evaluate(_INSPECT)
        page.screenshot(path=png)
        page.context.close()
    return record


def site_pages(html_dir):
    """The pages a reader reaches from the index's toctrees but the API reference: the index,
    the chapters, the guide, the GPU page and the notebooks."""
    pages = ["index.html", "gpu.html"]
    for folder in ("tutorial", "guide", "notebooks"):
        pages += sorted("%s/%s" % (folder, name) for name in os.listdir(
            os.path.join(html_dir, folder)) if name.endswith(".html"))
    return [page for page in pages if os.path.isfile(os.path.join(html_dir, page))]


def main(argv):
    if len(argv) < 1 or argv[0] not in ("check", "screenshot"):
        sys.exit(__doc__)
    why = chromium_missing()
    if why:
        sys.exit("docs_browser.py: %s" % why)
    args = argv[1:]
    html = args.pop(0) if args and os.path.isdir(args[0]) else DEFAULT_HTML
    if not os.path.isfile(os.path.join(html, "index.html")):
        sys.exit("docs_browser.py: no site in %s (run make docs)" % html)
    if argv[0] == "screenshot":
        if len(args) != 2:
            sys.exit(__doc__)
        record = screenshot(html, args[0], args[1])
        print("%s: %s (%d requests, %d outside the site)" % (
            args[1], args[0], len(record["requests"]), len(record["outside"])))
        return 0
    pages = args or site_pages(html)
    bad = 0
    with serve(html) as base, browser() as chrome:
        for path in pages:
            problems = check_page(chrome, base, path)
            bad += bool(problems)
            print("%s: %s" % (path, "; ".join(problems) if problems else "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
