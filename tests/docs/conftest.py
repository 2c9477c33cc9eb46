"""The site's tests share one build (a session fixture): test_build.py checks it, test_browser.py
opens it.  Both are slow tests run in one pass of ``make test`` only, the main Python's
float32 slow pass (``tools/run_tests.py``): the site does not depend on floatX, and the build
takes a minute.
Elsewhere they are skipped with the reason, as they are where Sphinx (the docs extra) or the
browser is missing.  The doctests of the pages (test_doctests.py) run in every pass."""
import os
import pathlib
import subprocess
import sys
import time
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT / "tools"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "docsite: builds the site or opens it in a browser; runs in float32 "
                   "only (skipped with the reason elsewhere)")


def docsite_skip_reason():
    """Why the site's tests do not run in this pass (None: they do)."""
    import theano
    if theano.config.floatX != "float32":
        return ("the site is built and browsed in the float32 pass only (floatX=%s here)"
                % theano.config.floatX)
    try:
        import myst_nb  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError as exc:
        return ("Sphinx or MyST-NB is not installed (%s): the docs extra, which make test "
                "installs (make venv EXTRAS=docs)" % exc)
    return None


@pytest.fixture(scope="session")
def docs_site(tmp_path_factory):
    """The whole site built once into a temporary folder, as ``make docs`` builds it
    (warnings are errors, every internal reference resolved): a namespace with the
    ``returncode``, the ``output`` (stdout and stderr), the ``html`` folder and the
    ``seconds`` the build took."""
    why = docsite_skip_reason()
    if why:
        pytest.skip(why)
    out = tmp_path_factory.mktemp("docs-site")
    html, doctrees = out / "html", out / "doctrees"
    argv = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-b", "html",
            "-d", str(doctrees), str(DOCS), str(html)]
    start = time.time()
    run = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, stdin=subprocess.DEVNULL, env=dict(os.environ))
    return types.SimpleNamespace(returncode=run.returncode, output=run.stdout, html=html,
                                 seconds=time.time() - start, argv=argv)
