"""The built site in a real browser (Debian's chromium under Playwright; tools/docs_browser.py).

The index and the logistic regression and RBM chapters: math typeset (no raw TeX left), every
image loaded, the chapter's class included from the package, no console error, and no request
leaving the site's server (127.0.0.1) but for file:// and data: URLs.  A page made broken on
purpose shows that each check finds what it looks for.
"""
import pytest

import docs_browser
from conftest import docsite_skip_reason

pytestmark = [pytest.mark.docsite, pytest.mark.slow]

PAGES = [
    # (page, a text some code block holds, the page has math)
    ("index.html", None, False),
    ("tutorial/logreg.html", "class LogisticRegression", True),
    ("tutorial/rbm.html", "class RBM", True),
]

BROKEN = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>broken</title></head><body>
<p>The loss is</p>
<div class="math notranslate nohighlight">$$\frac{1}{2} \sum_i x_i^2$$</div>
<p>an image that is not there: <img src="missing.png" alt="missing"></p>
<p>an image from elsewhere: <img src="http://example.invalid/x.png" alt="remote"></p>
<pre>def not_the_class(): pass</pre>
<script>console.error("boom"); setTimeout(function () { throw new Error("late"); }, 0);</script>
</body></html>
"""


@pytest.fixture(scope="module")
def chrome():
    why = docsite_skip_reason() or docs_browser.chromium_missing()
    if why:
        pytest.skip(why)
    with docs_browser.browser() as chrome:
        yield chrome


@pytest.fixture(scope="module")
def site(docs_site):
    if not (docs_site.html / "index.html").is_file():
        pytest.fail("the site was not built (see test_build.py):\n%s" % docs_site.output[-3000:])
    with docs_browser.serve(docs_site.html) as base:
        yield base


@pytest.mark.parametrize("page, code, math", PAGES, ids=[p[0] for p in PAGES])
def test_page(chrome, site, page, code, math):
    problems = docs_browser.check_page(chrome, site, page, code=code, math=math)
    assert not problems, "%s:\n  %s" % (page, "\n  ".join(problems))


def test_the_checks_find_a_broken_page(chrome, tmp_path):
    """Each check fails on a page made to fail it: raw TeX and no MathJax, an image missing,
    an image from another host (a request leaving the site), console errors, no class code."""
    (tmp_path / "broken.html").write_text(BROKEN, encoding="utf-8")
    with docs_browser.serve(tmp_path) as base:
        problems = docs_browser.check_page(chrome, base, "broken.html", code="class RBM",
                                           math=True)
    text = "\n".join(problems)
    for wanted in ["request outside the site: http://example.invalid/x.png",
                   "HTTP 404: %smissing.png" % base,
                   "console error: boom", "uncaught exception: ", "late",
                   "math elements and no MathJax", "math not typeset",
                   "raw TeX in the text: '$$'", "raw TeX in the text: '\\\\frac'",
                   "image not loaded: %smissing.png" % base,
                   "image not loaded: http://example.invalid/x.png",
                   "no code block holds 'class RBM'"]:
        assert wanted in text, "the checks missed %r; they found:\n%s" % (wanted, text)
