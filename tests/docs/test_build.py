"""The site builds as ``make docs`` builds it: no warning (-W), every reference resolved (-n)."""
import re

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.docsite, pytest.mark.slow]

WARNING = re.compile(r"^.*\b(WARNING|ERROR|CRITICAL)\b.*$", re.M)

TUTORIAL = ["getting_started", "logreg", "mlp", "lenet", "dA", "SdA", "cA", "cg", "rbm", "DBN",
            "hmc", "rnnrbm", "rnnslu", "lstm"]
GUIDE = ["search", "reproductions", "performance", "setup"]


def test_site_builds_without_a_warning(docs_site):
    warnings = [m.group(0) for m in WARNING.finditer(docs_site.output)]
    assert docs_site.returncode == 0 and not warnings, (
        "the site's build (%s) exited %d with %d warnings:\n%s\n--- its last lines:\n%s" % (
            " ".join(docs_site.argv), docs_site.returncode, len(warnings),
            "\n".join(warnings), "\n".join(docs_site.output.splitlines()[-15:])))


def test_site_has_every_page(docs_site):
    """Every chapter, guide page, notebook (one page per notebooks/*.ipynb) and the API
    pages are in the site, with MathJax beside them (from the package, not a CDN)."""
    html = docs_site.html
    wanted = ["index.html", "gpu.html", "opencl.html", "notebooks/index.html", "api/index.html",
              "_static/mathjax/tex-chtml.js"]
    wanted += ["tutorial/%s.html" % name for name in TUTORIAL]
    wanted += ["guide/%s.html" % name for name in GUIDE]
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    wanted += ["notebooks/%s.html" % path.stem for path in notebooks]
    missing = [page for page in wanted if not (html / page).is_file()]
    assert not missing, "missing from the site: %s" % missing
