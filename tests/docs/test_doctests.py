"""The examples in the site's pages: every ```pycon block of docs/**/*.md runs as a doctest.

One test per page; a page's blocks run in order in one namespace (as a reader types them),
from the repository's root, with ELLIPSIS and NORMALIZE_WHITESPACE, in the floatX of the
pass (make test runs float32 and float64).  Only ```pycon fences (and ``{code-block} pycon``)
are examples: a ```python block is code to read, not a session.
"""
import doctest
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*"
                   r"(?:\{code-block\}[ \t]*|\{code\}[ \t]*)?(?P<lang>[\w+-]*)")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def pycon_blocks(text):
    """``(first line number, text)`` of each pycon fenced block (MyST directive options
    such as ``:caption:`` at its top left out)."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match.group("fence"), match.group("indent")
        close = re.compile(r"^[ \t]*%s%s*[ \t]*$" % (re.escape(fence), re.escape(fence[0])))
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if match.group("lang") == "pycon":
            start = i + 1
            while start < j and re.match(r"^[ \t]*:\w[\w-]*:", lines[start]):
                start += 1
            body = [line[len(indent):] if line.startswith(indent) else line
                    for line in lines[start:j]]
            blocks.append((start + 1, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def run_page(path):
    """Run the page's examples; returns (examples tried, failures, the runner's report)."""
    import io
    parser = doctest.DocTestParser()
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
    globs = {"__name__": "__docs__"}
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    for lineno, block in pycon_blocks(path.read_text(encoding="utf-8")):
        test = parser.get_doctest(block, globs, "%s:%d" % (name, lineno), str(path),
                                  lineno - 1)
        runner.run(test, out=report.write, clear_globs=False)
        globs = test.globs      # (a DocTest runs in a copy: the next block continues it)
    result = runner.summarize(verbose=False)
    return result.attempted, result.failed, report.getvalue()


@pytest.mark.parametrize("path", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_examples(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    attempted, failed, report = run_page(path)
    assert not failed, "%d of %d examples of %s failed:\n%s" % (
        failed, attempted, path.relative_to(ROOT), report)


def test_the_runner_reads_a_page(tmp_path):
    """What counts as an example: pycon fences (``{code-block} pycon`` too, its options left
    out), in one namespace from block to block; a python block is not run; a wrong output
    is a failure, at its line."""
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "# A page", "", "```pycon", ">>> x = 20", ">>> x + 1", "21", "```", "",
        "```python", ">>> raise SystemExit('a python block is not run')", "```", "",
        "~~~{code-block} pycon", ":caption: continued", ">>> x * 2", "40", "~~~", "",
        "```pycon", ">>> [x] * 30  # doctest: +ELLIPSIS", "[20, 20, ..., 20]",
        ">>> x - 1", "0", "```", ""]), encoding="utf-8")
    blocks = pycon_blocks(page.read_text(encoding="utf-8"))
    assert [line for line, _ in blocks] == [4, 15, 20]
    attempted, failed, report = run_page(page)
    assert (attempted, failed) == (5, 1)
    assert "line 22" in report and "Expected:\n    0\nGot:\n    19" in report
