"""Sphinx configuration of the dltut site (``make docs`` -> docs/_build/html).

Everything the built site loads is local: the theme's assets, MathJax (the
``sphinx-mathjax-offline`` package copies MathJax 3 into ``_static/mathjax``), the
notebooks' figures (their committed outputs, embedded).  Intersphinx is off (the build
must work without internet); ``nitpick_ignore_regex`` below lists the references to other
projects' objects that therefore cannot be resolved.  Every reference to a dltut object
must resolve (``-n``).
"""
import filecmp
import os
import pathlib
import re
import shutil
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

project = "dltut"
author = "the dltut authors"
copyright = "the dltut authors"

extensions = [
    "myst_nb",                  # MyST markdown pages and the notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",   # MathJax 3 from the package, not from a CDN
]

# --- sources ---------------------------------------------------------------------------------
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# --- MyST and the notebooks ------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# The notebooks are shown with the outputs committed in notebooks/ (tools/run_notebooks.py
# makes them); the docs build never runs them (the test suite does).
nb_execution_mode = "off"
nb_merge_streams = True

# --- API reference (autodoc + napoleon, numpy-style docstrings) -------------------------------
autodoc_member_order = "bysource"
# The pages have a heading per module; the objects themselves stay out of the tables of
# contents (thousands of entries, a fifth of the build time, in every page's sidebar).
toc_object_entries = False
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
# (Theano's own docstrings of the methods an Op overrides are Theano's, not dltut's)
autodoc_inherit_docstrings = False
autodoc_typehints = "description"
autodoc_preserve_defaults = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# The docstrings' types are prose ("ndarray (n_examples, n_in)", "shared matrix"): shown as
# written, not made into cross-references (each word would be one, to nothing).
napoleon_use_param = False
napoleon_use_keyword = False
napoleon_use_ivar = True
python_use_unqualified_type_names = True

# --- offline: no intersphinx; other projects' names are not checked -------------------------
nitpicky = True
_EXTERNAL = (r"(theano|T|tt|numpy|np|scipy|matplotlib|PIL|dask|distributed|tqdm|IPython"
             r"|ipywidgets|pathlib|os|io|argparse|collections|concurrent|multiprocessing"
             r"|subprocess|threading|signal|typing|types|enum|json|logging|random|socket"
             r"|tempfile|contextlib|datetime|abc|configparser|numbers)(\..*)?")
_BUILTINS = (r"(int|float|str|bytes|bool|list|tuple|dict|set|frozenset|object|type|None"
             r"|callable|Callable|iterable|Iterable|sequence|Sequence|Mapping|mapping"
             r"|Path|path-like|file-like|array|array-like|array_like|ndarray|optional"
             r"|Exception|ValueError|TypeError|KeyError|OSError|RuntimeError|SystemExit"
             r"|KeyboardInterrupt|FileNotFoundError|NotImplementedError|StopIteration"
             r"|TimeoutError|IndexError|AttributeError|ImportError|DeprecationWarning"
             r"|UserWarning|Warning|BaseException|Any|Optional|Union|Iterator|Generator)")
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL),
    (r"py:.*", _BUILTINS),
    (r"py:.*", r"dltut\.[\w.]*\._\w+"),   # private names (not documented), e.g. a base class
    (r"py:.*", r"(importlib|pickle|zipfile|gzip|shutil|hashlib|urllib|struct|errno|time|sys|math)(\..*)?"),
    (r"py:.*", r"(MRG_RandomStreams|RandomStreams|MethodNotDefined|TensorVariable|TensorType"
               r"|SharedVariable|Variable|Apply|Op|COp|OpenMPOp|Function|Client|Future)"),
]

# --- HTML ------------------------------------------------------------------------------------
html_theme = "furo"
html_title = "dltut: the Theano deep learning tutorials"
html_static_path = ["_static"]
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None


# --- the notebooks: one source (notebooks/), copied here for the build -----------------------
def _copy_notebooks():
    """Copy notebooks/*.ipynb into docs/notebooks/ (gitignored): only files that differ, so
    that Sphinx's incremental build sees unchanged notebooks as unchanged; copies whose
    source is gone are removed."""
    source, target = ROOT / "notebooks", DOCS / "notebooks"
    target.mkdir(exist_ok=True)
    wanted = {p.name: p for p in sorted(source.glob("*.ipynb"))}
    for name, path in wanted.items():
        copy = target / name
        if not copy.exists() or not filecmp.cmp(path, copy, shallow=False):
            shutil.copy2(path, copy)
    for copy in target.glob("*.ipynb"):
        if copy.name not in wanted:
            copy.unlink()


_copy_notebooks()


# --- references to a name a package re-exports ------------------------------------------------
# The API pages document each object where it is defined (dltut.training.trainer.Trainer);
# the packages re-export them (dltut.training.Trainer), and the pages and docstrings use
# either.  A reference Sphinx cannot find is resolved to the documented object it imports as.
_MISSING = object()


def _lookup(dotted):
    """The object ``dotted`` names (a module, or attributes of one), or _MISSING."""
    import importlib
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def _resolve_reexport(app, env, node, contnode):
    if node.get("refdomain") != "py" or not node.get("reftarget", "").strip():
        return None
    target = node["reftarget"].lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = []
    if module and cls:
        candidates.append("%s.%s.%s" % (module, cls, target))
    while module:
        candidates.append("%s.%s" % (module, target))
        module = module.rpartition(".")[0]
    candidates.append(target)
    domain = env.get_domain("py")
    if "." not in target:
        # an unqualified name in a docstring: the one documented object of that name
        same = [name for name in domain.objects if name.rpartition(".")[2] == target]
        if len(same) == 1:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                       same[0], node, contnode)
    for name in candidates:
        if not name.startswith("dltut"):
            continue
        obj = _lookup(name)
        if obj is _MISSING:
            continue
        last = name.rpartition(".")[2]
        for fullname in list(domain.objects):
            if fullname != name and fullname.rpartition(".")[2] == last \
                    and _lookup(fullname) is obj:
                return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                           fullname, node, contnode)
    return None


def _prose_type_words():
    """A post-transform (before references are resolved) that leaves the words of the
    docstrings' prose type fields as text: Sphinx makes a cross-reference of each word of a
    field's type ("callable(epoch) or None", "[W, b, b_prime]") and of the pieces of a
    signature's default values; one that cannot name a class (a dotted name whose last part
    has a capital letter) there, or cannot name any Python object anywhere, is not a
    reference to anything.  References written as roles ({py:func}`...`) are all checked."""
    import re
    from sphinx import addnodes
    from sphinx.transforms.post_transforms import SphinxPostTransform
    from sphinx.util.nodes import find_pending_xref_condition

    class_name = re.compile(r"[\w.]*[A-Z]\w*")
    dotted_name = re.compile(r"[~.]?[A-Za-z_][\w.]*")     # what can name a Python object

    class ProseTypeWords(SphinxPostTransform):
        default_priority = 5

        def run(self, **kwargs):
            for node in list(self.document.findall(addnodes.pending_xref)):
                if node.get("refdomain") != "py":
                    continue
                target = node["reftarget"]
                if not dotted_name.fullmatch(target) or (
                        node.get("refspecific") and node.get("reftype") in ("class", "obj")
                        and not class_name.fullmatch(target)):
                    fallback = find_pending_xref_condition(node, "*")
                    content = fallback.children if fallback is not None else node.children
                    node.replace_self(list(content) or [])

    return ProseTypeWords


_NOTEBOOK_LINK = re.compile(r"\]\((?P<path>[^)\s#]*notebooks/[\w.-]+\.ipynb)(?P<rest>[^)]*)\)")


def _notebook_links(app, docname, source):
    """A page's markdown link to a notebook of the repository (``../../notebooks/03_mlp.ipynb``,
    the path a reader of the sources on GitHub follows) points to its page in the site: the
    copy in docs/notebooks/ is the same file."""
    folder = (DOCS / docname).parent

    def relink(match):
        target = (folder / match.group("path")).resolve()
        if target.parent == ROOT / "notebooks":
            copy = os.path.relpath(DOCS / "notebooks" / target.name, folder)
            return "](%s%s)" % (copy.replace(os.sep, "/"), match.group("rest"))
        return match.group(0)

    source[0] = _NOTEBOOK_LINK.sub(relink, source[0])


#: A constant's value longer than this is not shown in its signature (the C source of
#: dltut.ops.conv would be a 33,000-character line); its docstring says what it holds.
VALUE_CHARS = 400


def _long_values(app, doctree):
    from docutils import nodes
    from sphinx import addnodes
    for desc in doctree.findall(addnodes.desc):
        if desc.get("desctype") not in ("data", "attribute"):
            continue
        for signature in desc.findall(addnodes.desc_signature):
            for annotation in list(signature.findall(addnodes.desc_annotation)):
                text = annotation.astext()
                if text.lstrip().startswith("=") and len(text) > VALUE_CHARS:
                    annotation.children = [nodes.Text(" = ... (%d characters)" % len(text))]


def setup(app):
    app.connect("missing-reference", _resolve_reexport)
    app.connect("doctree-read", _long_values)
    app.connect("source-read", _notebook_links)
    app.add_post_transform(_prose_type_words())
