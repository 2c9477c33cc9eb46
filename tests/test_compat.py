"""dltut.compat: Theano 1.0.5 on this Python and numpy, whichever module is imported first.

Run on every supported Python (``make test-pythons``).  The subprocess tests start fresh
interpreters of this environment, so they see the start-up hook exactly as a user's
script or notebook kernel does.
"""
import ast
import os
import shutil
import subprocess
import sys
import textwrap

import numpy
import pytest
import theano
import theano.tensor as T
from theano.ifelse import ifelse
from theano.sandbox.rng_mrg import MRG_RandomStreams
from theano.tensor.signal.pool import pool_2d

import dltut
from dltut import compat
from dltut.compat import numpy2, scan, startup

from _helpers import uses_compiled_scan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOATX = theano.config.floatX


def run_fresh(code, env=None, cwd=None, timeout=600):
    """Run ``code`` in a new interpreter of this environment (no PYTHONPATH tricks)."""
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd or ROOT,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- the start-up hook
def test_startup_hook_is_installed_here():
    assert startup.is_installed(), (
        "dltut-startup.pth is missing from %s: run `make venv` or "
        "`python -m dltut.compat.startup install`" % startup.pth_path())


@pytest.mark.parametrize("first", [
    "import theano",
    "import theano.tensor as T",
    "import numpy; import theano",
    "from theano import tensor",
])
def test_theano_imported_before_dltut(first, tmp_path):
    """A notebook's usual first cell: Theano before dltut, then a compiled product."""
    out = run_fresh("""
        %s
        import sys
        import numpy, theano, theano.tensor as T
        a = T.matrix("a"); b = T.matrix("b")
        f = theano.function([a, b], T.dot(a, b) * 2)
        x = numpy.arange(6).reshape(2, 3).astype(theano.config.floatX)
        y = numpy.arange(12).reshape(3, 4).astype(theano.config.floatX)
        assert numpy.allclose(f(x, y), 2 * x.dot(y))
        import dltut, dltut.runtime.setup as s
        print(theano.config.blas.ldflags == s.STATE["blas"].ldflags, "dltut" in sys.modules)
        print(s.STATE["theano_already_imported"])
    """ % first, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "False"]


def test_theano_first_keeps_user_flags(tmp_path):
    out = run_fresh("""
        import theano
        print(theano.config.allow_gc, repr(theano.config.blas.ldflags))
    """, env={"THEANO_FLAGS": "allow_gc=True,blas.ldflags="}, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "''"]


def test_startup_does_not_import_anything_heavy(tmp_path):
    out = run_fresh("""
        import sys
        print(sorted(m for m in ("numpy", "theano", "dltut") if m in sys.modules))
        print(sum(getattr(f, "_dltut_startup_hook", False) for f in sys.meta_path))
    """, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "1"]


def test_startup_line_is_inert_without_dltut(monkeypatch):
    """A .pth left behind after dltut was uninstalled must not disturb Theano's import."""
    import importlib.util
    saved = list(sys.meta_path)
    try:
        exec(startup.PTH_LINE)                              # what site.py does with it
        finder = sys.meta_path[0]
        assert getattr(finder, "_dltut_startup_hook", False)
        assert finder.find_spec("numpy") is None            # other modules: not its business
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name == "dltut" else real(name, *a))
        assert finder.find_spec("theano") is None          # dltut gone: Theano on its own
    finally:
        sys.meta_path[:] = saved


def test_startup_finder_hands_theano_to_dltut():
    saved = list(sys.meta_path)
    try:
        exec(startup.PTH_LINE)
        finder = sys.meta_path[0]
        spec = finder.find_spec("theano")
        assert spec is not None and spec.name == "theano"
        assert os.path.dirname(spec.origin) == os.path.dirname(theano.__file__)
        assert not any(getattr(f, "_dltut_startup_hook", False) for f in sys.meta_path)
    finally:
        sys.meta_path[:] = saved


def test_startup_install_remove_status(tmp_path, capsys):
    site = str(tmp_path)
    assert not startup.is_installed(site)
    assert startup.main(["status", "--site-dir", site]) == 1
    assert startup.main(["install", "--site-dir", site]) == 0
    path = tmp_path / startup.PTH_NAME
    assert path.read_text() == startup.PTH_LINE and startup.is_installed(site)
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert startup.main(["status", "--site-dir", site]) == 0
    assert startup.main(["remove", "--site-dir", site]) == 0
    assert not path.exists()
    assert "no " in (startup.main(["remove", "--site-dir", site]) == 0 and capsys.readouterr().out)
    # a folder that cannot be written: one line, exit 2
    assert startup.main(["install", "--site-dir", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_pth_line_is_one_import_line():
    line = startup.PTH_LINE
    assert line.endswith("\n") and line.count("\n") == 1 and line.startswith("import ")
    ast.parse(line)          # what site.py will exec


def test_startup_hook_cost_is_small():
    """The .pth line runs at every start-up of the environment: keep it cheap (measured
    here per run of the line; a Python start-up takes some 10-20 ms)."""
    import timeit
    saved = list(sys.meta_path)

    def run():
        exec(startup.PTH_LINE)
        sys.meta_path[:] = saved

    per_run = min(timeit.repeat(run, number=20, repeat=3)) / 20
    assert per_run < 0.005, "the start-up line takes %.2f ms" % (per_run * 1e3)


@pytest.mark.slow
def test_wheel_carries_the_startup_file(tmp_path):
    """A regular installation puts dltut-startup.pth into site-packages by itself; the wheel
    also carries the package data (numpy headers, the convolution's C++)."""
    import shutil
    import zipfile
    # built from a copy without the checkout's build outputs: a stale dltut.egg-info/SOURCES.txt
    # would put package data into the wheel that setup.py's package_data leaves out
    source_tree = tmp_path / "src"
    shutil.copytree(ROOT, str(source_tree), ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "data", "results"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                          "--no-build-isolation", "-w", str(tmp_path), str(source_tree)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    wheels = [p for p in os.listdir(str(tmp_path)) if p.endswith(".whl")]
    assert len(wheels) == 1
    with zipfile.ZipFile(str(tmp_path / wheels[0])) as whl:
        assert whl.read(startup.PTH_NAME).decode() == startup.PTH_LINE
        assert "dltut/compat/include/numpy/noprefix.h" in whl.namelist()
        # the convolution Ops' C++, read at import (dltut.ops.conv.SUPPORT_CODE)
        assert "dltut/ops/conv.cpp" in whl.namelist()
        source = os.path.join(ROOT, "dltut", "ops", "conv.cpp")
        with open(source, encoding="utf-8") as f:
            assert whl.read("dltut/ops/conv.cpp").decode("utf-8") == f.read()


# --------------------------------------------------------------------------- the package
PACKAGE = os.path.join(ROOT, "dltut")


def _package_modules():
    """``{dotted name under dltut: file}`` of every module of the package (a package by its
    ``__init__.py``, named by the folder); Theano's build helpers are not part of it."""
    modules = {}
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "theano_build", "include")]
        rel = os.path.relpath(folder, PACKAGE)
        prefix = [] if rel == "." else rel.split(os.sep)
        for name in files:
            if not name.endswith(".py") or name == "__main__.py":
                continue
            parts = prefix + ([] if name == "__init__.py" else [name[:-3]])
            if parts:
                modules[".".join(parts)] = os.path.join(folder, name)
    return modules


def _imports(path, name, modules, everywhere=False):
    """The dltut modules (dotted, under dltut) that module ``name`` at ``path`` imports: at
    module level only, or ``everywhere`` (inside functions too).  Importing a.b imports a."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name.split(".") if path.endswith("__init__.py") else name.split(".")[:-1]
    found = set()

    # a module's own packages are imported before it: importing a sibling (training.cg's
    # ``from .config import ...``) adds no edge to them, importing a package's own names
    # (``from . import Trainer``) does
    ancestors = {".".join(name.split(".")[:end]) for end in range(1, len(name.split(".")))}

    def add(dotted):
        parts = dotted.split(".") if dotted else []
        while parts and ".".join(parts) not in modules:
            parts.pop()     # a name imported from a module, not a module
        for end in range(1, len(parts) + 1):
            if end < len(parts) and ".".join(parts[:end]) in ancestors:
                continue
            found.add(".".join(parts[:end]))

    nodes = ast.walk(tree) if everywhere else tree.body
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:      # relative: from the package, up level - 1 folders
                stem = package[:len(package) - node.level + 1]
                stem = stem + (node.module.split(".") if node.module else [])
            elif node.module == "dltut" or (node.module or "").startswith("dltut."):
                stem = node.module.split(".")[1:]
            else:
                continue
            add(".".join(stem))
            for alias in node.names:
                add(".".join(stem + [alias.name]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dltut."):
                    add(alias.name[len("dltut."):])
    return found - {name}


def _import_graph(everywhere=False):
    modules = _package_modules()
    return {name: _imports(path, name, modules, everywhere) for name, path in modules.items()}


def test_every_sub_package_has_an_init_that_git_keeps():
    """Each folder of modules is a package (find_packages puts only those into the wheel), and
    no ignore rule hides a package file (``runs/``, for run folders, once hid dltut/runs/)."""
    modules = _package_modules()
    folders = {os.path.dirname(path) for path in modules.values()}
    for folder in folders:
        assert os.path.exists(os.path.join(folder, "__init__.py")), folder
    if not os.path.exists(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "check-ignore", "--no-index"] + sorted(modules.values()),
                         cwd=ROOT, capture_output=True, text=True)
    assert out.stdout == "", "ignored by .gitignore: %s" % out.stdout


def test_the_import_graph_sees_the_sub_packages():
    """The graph the two tests below check (a test of the test): it resolves relative imports
    in sub-packages, names imported from a module, and packages imported with a module."""
    graph = _import_graph()
    assert {"runs", "runs.checkpoint", "runs.rundir", "init", "training.loop"} <= \
        graph["training.trainer"]
    assert {"runtime", "runtime.blas", "runtime.device", "runtime.flags", "compat"} <= \
        graph["runtime.setup"]
    assert "training.trainer" in graph["training"]
    assert {"cli.supervised", "runs.checkpoint", "search.search"} <= graph["search.cli"]
    assert {"runs.checkpoint", "runtime.setup"} <= graph["search.workers"]
    assert "training" in _import_graph(everywhere=True)["cli.supervised"]
    assert "training" not in graph["cli.supervised"]     # imported inside functions only
    # a sibling's import does not count as one of the package (training/__init__ imports
    # them all), an import of the package's own names does
    assert "training" not in graph["training.cg"] and "training.config" in graph["training.cg"]


def test_an_import_of_the_own_package_is_an_edge(tmp_path):
    modules = _package_modules()
    fake = tmp_path / "fake.py"
    fake.write_text("from . import Trainer\nfrom .loop import Progress\n")
    assert _imports(str(fake), "training.fake", modules) == {"training", "training.loop"}


def test_no_import_cycles_in_dltut():
    graph = _import_graph()
    # depth-first search for a cycle
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                pytest.fail("import cycle: %s" % " -> ".join(trail + [node, dep]))
            if dep not in state:
                visit(dep, trail + [node])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert "runtime.setup" not in graph["runtime.device"]


#: The tutorial's model modules: they import theano, numpy and each other (and leaves such as
#: dltut.ops), never the machinery above them.
MODELS = ("layers", "models", "init", "updates", "autoencoders", "rbm", "hmc", "cg", "recurrent")
#: What each level must never import (inside functions neither).
NEVER = {"models": ("training", "runs", "cli", "search"), "training": ("cli", "search")}
#: The imports that break the rule today (none: the SdA's and the DBN's
#: ``build_finetune_functions`` compile with plain Theano, dltut.models.finetune_functions).
#: The test fails when one is fixed and still listed.
KNOWN_UNTIL_SPLITS = set()


def _level(module):
    top = module.split(".")[0]
    return "models" if top in MODELS else top


#: Modules that import no other dltut module (the argument checks models and flags share).
LEAVES = ("checks", "updates")


def test_no_module_imports_a_higher_level():
    graph = _import_graph(everywhere=True)
    for leaf in LEAVES:
        assert graph.get(leaf, set()) == set(), "%s must import no dltut module" % leaf
    broken = set()
    for module, deps in graph.items():
        for dep in deps:
            if dep.split(".")[0] in NEVER.get(_level(module), ()):
                broken.add((module, dep.split(".")[0]))
    assert broken - KNOWN_UNTIL_SPLITS == set(), "a module imports a higher level"
    assert KNOWN_UNTIL_SPLITS - broken == set(), "fixed: remove these from KNOWN_UNTIL_SPLITS"


def test_every_module_imports_without_an_old_path(tmp_path):
    """Inside the package only the new paths are used: importing every module with the
    aliases' DeprecationWarning as an error works (and python -m dltut.info's file too)."""
    names = sorted(_package_modules()) + ["search.__main__"]
    names.remove("search.__main__")   # runs a search when imported
    out = run_fresh("""
        import importlib, warnings
        # the aliases' warning only (Theano's own use of distutils warns on 3.13)
        warnings.filterwarnings("error", message=r".* has moved to dltut\.",
                                category=DeprecationWarning)
        for name in %r:
            importlib.import_module("dltut." + name)
        print("ok")
    """ % names, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok"]


def test_old_module_paths_import_as_the_new_modules_with_a_warning(tmp_path):
    """Each path of the flat layout (dltut.MOVED) imports, once, as the very module that
    replaced it, with a DeprecationWarning naming the new path at the importing line."""
    out = run_fresh("""
        import importlib, sys, warnings
        import dltut
        for old, new in sorted(dltut.MOVED.items()):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                exec("import %s as module" % old)
                exec("import %s as again" % old)   # once: the module is in sys.modules now
            ours = [w for w in caught if issubclass(w.category, DeprecationWarning)
                    and " has moved to " in str(w.message)]   # not Theano's distutils one
            print(old, module is importlib.import_module(new), again is module,
                  sys.modules[old] is module, module.__spec__.name == new, len(ours),
                  new in str(ours[0].message) if ours else None,
                  ours[0].filename if ours else None)
        from dltut import experiment_pretrain, train
        print("from", train is dltut.training, experiment_pretrain is dltut.cli.pretrain)
    """, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    import dltut as package
    assert len(lines) == len(package.MOVED) + 1
    for line, old in zip(lines, sorted(package.MOVED)):
        assert line.split() == [old, "True", "True", "True", "True", "1", "True", "<string>"]
    assert lines[-1].split() == ["from", "True", "True"]


@pytest.mark.parametrize("order", ["import dltut.training\nfrom dltut import training",
                                   "from dltut import training\nimport dltut.training"])
def test_from_dltut_import_training_is_the_package(order, tmp_path):
    out = run_fresh(order + "\nimport types\nprint(isinstance(training, types.ModuleType), "
                            "training.__name__)", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "dltut.training"]


def test_info_reports_the_measures(tmp_path):
    out = run_fresh("import dltut.info as i; i.main(['--no-bench'])", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "start-up hook installed" in out.stdout
    assert "compatibility measures (dltut.compat):" in out.stdout
    assert "compiled scan:" in out.stdout
    import theano.sandbox.rng_mrg  # noqa: F401  (info imports the same modules)
    import theano.tensor.signal.pool  # noqa: F401
    for name, active, _, _ in compat.describe():
        if name in ("compiled scan", "imp stand-in"):   # reported on their own line / GPU only
            continue
        assert ("%-3s %s:" % ("on" if active else "off", name)) in out.stdout


# --------------------------------------------------------------------------- compiled scan
@pytest.mark.floatx
def test_multistep_scan_compiles_to_c_and_matches_numpy(tol):
    """An RNN-like recurrence over 12 steps: h_t = tanh(x_t W + h_{t-1} U + b)."""
    rng = numpy.random.RandomState(3)
    W = theano.shared(rng.randn(4, 5).astype(FLOATX) * 0.5)
    U = theano.shared(rng.randn(5, 5).astype(FLOATX) * 0.5)
    b = theano.shared(rng.randn(5).astype(FLOATX))
    xs = T.matrix("xs")
    h0 = T.vector("h0")
    hs, _ = theano.scan(lambda x, h: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
                        sequences=xs, outputs_info=h0)
    f = theano.function([xs, h0], hs)
    assert uses_compiled_scan(f)
    x = rng.randn(12, 4).astype(FLOATX)
    h = numpy.zeros(5, dtype=FLOATX)
    expected = []
    for t in range(12):
        h = numpy.tanh(x[t].dot(W.get_value()) + h.dot(U.get_value()) + b.get_value())
        expected.append(h)
    numpy.testing.assert_allclose(f(x, numpy.zeros(5, dtype=FLOATX)), expected, **tol)
    assert scan.status()[0] == "ready"
    assert dict((n, a) for n, a, _, _ in compat.describe())["compiled scan"] is True


@pytest.mark.floatx
def test_scan_gradient_through_compiled_scan(tol):
    """The gradient of a scan is a scan too (mit_mot outputs): compiled, and equal to the
    gradient of the unrolled loop."""
    w = T.scalar("w")
    x0 = T.vector("x0")
    xs, _ = theano.scan(lambda x: x * w + T.sin(x), outputs_info=x0, n_steps=6)
    g = theano.function([w, x0], T.grad(xs[-1].sum(), w))
    assert uses_compiled_scan(g)
    x = x0
    for _ in range(6):
        x = x * w + T.sin(x)
    g_unrolled = theano.function([w, x0], T.grad(x.sum(), w))
    args = (numpy.asarray(0.7, dtype=FLOATX), numpy.linspace(-1, 1, 5).astype(FLOATX))
    numpy.testing.assert_allclose(g(*args), g_unrolled(*args), **tol)


@pytest.mark.floatx
def test_scan_falls_back_to_python_with_one_warning(monkeypatch, capfd):
    """When the extension cannot be built: one line on stderr, Python scan, same results."""
    package = theano.scan_module
    saved_module = sys.modules.pop("theano.scan_module.scan_perform_ext")
    saved_attr = package.__dict__.pop("scan_perform_ext")
    monkeypatch.setattr(scan, "_STATE", {"done": False, "error": None})
    monkeypatch.setattr(scan, "built_version", lambda location: None)

    def broken(text, numpy_2=False):
        raise scan.ScanBuildError("simulated compiler failure")

    monkeypatch.setattr(scan, "edit_source", broken)
    try:
        x = T.vector("x")
        ys, _ = theano.scan(lambda v: v * 2 + 1, outputs_info=x, n_steps=3)
        f1 = theano.function([x], ys[-1])
        f2 = theano.function([x], ys[-1] * 1)
        assert not uses_compiled_scan(f1) and not uses_compiled_scan(f2)
        value = numpy.asarray([1, 2], dtype=FLOATX)
        numpy.testing.assert_array_equal(f1(value), ((value * 2 + 1) * 2 + 1) * 2 + 1)
        err = capfd.readouterr().err
        assert err.count("dltut: Theano's compiled scan could not be built") == 1, err
        assert "simulated compiler failure" in err
    finally:
        sys.modules["theano.scan_module.scan_perform_ext"] = saved_module
        package.scan_perform_ext = saved_attr


def test_scan_source_edits_refuse_an_unknown_file():
    with pytest.raises(scan.ScanBuildError, match="not the file dltut knows"):
        scan.edit_source("/* some other scan_perform.c */")
    source = os.path.join(os.path.dirname(theano.scan_module.__file__), "c_code",
                          "scan_perform.c")
    edited = scan.edit_source(open(source, encoding="utf-8").read(),
                              numpy_2=numpy2.numpy_is_2())
    assert "PyUnicode_GET_SIZE(" not in edited and "__dltut_PyCode_New" in edited


def test_first_error_of_compiler_output():
    output = ("mod.cpp:1:2: warning: x is deprecated. mod.cpp:9:1: error: 'PyFoo' was not "
              "declared in this scope. more")
    assert scan.first_error(output) == "'PyFoo' was not declared in this scope"
    assert scan.first_error("just one line\nsecond") == "just one line"


# --------------------------------------------------------------------------- constants
#: (Python number, dtype Theano 1.0.5 with numpy 1.x gives T.constant of it, floatX=float64)
#: worked out by hand from Theano's autocaster: ints take the first of int8/16/32/64 that
#: holds them (then uint64), floats the first of float32/float64 that holds them exactly.
CONSTANT_DTYPES = [
    (0, "int8"), (127, "int8"), (128, "int16"), (-128, "int8"), (-129, "int16"),
    (300, "int16"), (32767, "int16"), (32768, "int32"), (-32769, "int32"),
    (2 ** 31 - 1, "int32"), (2 ** 31, "int64"), (-2 ** 63, "int64"), (2 ** 63, "uint64"),
    (True, "int8"),
    (0.5, "float32"), (0.1, "float64"), (1e40, "float64"), (-2.0, "float32"),
    (float("inf"), "float32"), (float("nan"), "float64"), (3.4028234663852886e+38, "float32"),
]


@pytest.mark.floatx
@pytest.mark.parametrize("value, dtype", CONSTANT_DTYPES)
def test_constant_dtypes_as_with_numpy_1(value, dtype):
    got = T.constant(value).dtype
    if FLOATX == "float32" and isinstance(value, float):
        dtype = "float32"     # Theano's deliberate choice for Python floats under float32
    assert got == dtype


@pytest.mark.floatx
def test_float64_graph_keeps_python_floats_exact():
    x = T.dvector("x")
    f = theano.function([x], x * 0.1)
    value = numpy.array([1.0, 3.0, 7.0])
    factor = 0.1 if FLOATX == "float64" else numpy.float32(0.1)
    numpy.testing.assert_array_equal(f(value), value * numpy.float64(factor))
    assert (x * 0.1).dtype == "float64"


@pytest.mark.floatx
def test_integer_constants_keep_the_variable_dtype():
    i = T.ivector("i")
    assert (i + 300).dtype == "int32"
    assert (i * 2).dtype == "int32"
    assert (T.bvector() + 1).dtype == "int8"
    f = theano.function([i], i + 300)
    numpy.testing.assert_array_equal(f(numpy.array([1, -5], dtype="int32")), [301, 295])


@pytest.mark.floatx
def test_exact_autocast_matches_the_table():
    from theano.scalar.basic import autocast_float, autocast_int
    for value, dtype in CONSTANT_DTYPES:
        caster = autocast_float if isinstance(value, float) else autocast_int
        if dtype == "uint64":
            with pytest.raises(OverflowError):
                numpy2.exact_autocast(caster, value, "float64")
            continue
        assert str(numpy2.exact_autocast(caster, value, "float64").dtype) == dtype
    assert numpy2.exact_autocast(autocast_int, numpy.int64(3), "float64") is None


# --------------------------------------------------------------------------- C against Python
def _compare_c_and_python(inputs, outputs, values, rtol, atol=0.0, exact=False):
    """Compile twice -- Theano's C implementations (optimised graph) and its Python
    ``perform`` methods (graph as written) -- and compare every output."""
    c_mode = theano.Mode(linker="cvm", optimizer="fast_run")
    py_mode = theano.Mode(linker="py", optimizer=None)
    f_c = theano.function(inputs, outputs, mode=c_mode)
    f_py = theano.function(inputs, outputs, mode=py_mode)
    got_c, got_py = f_c(*values), f_py(*values)
    for a, b in zip(got_c, got_py):
        a, b = numpy.asarray(a), numpy.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        if exact:
            numpy.testing.assert_array_equal(a, b)
        else:
            numpy.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return f_c


@pytest.fixture
def ctol():
    return (1e-5, 1e-6) if FLOATX == "float32" else (1e-11, 1e-13)


def _data(shape, seed=0, low=-1.0, high=1.0):
    return numpy.random.RandomState(seed).uniform(low, high, shape).astype(FLOATX)


@pytest.mark.floatx
def test_elemwise_c_vs_python(ctol):
    x, y = T.matrix("x"), T.matrix("y")
    v = T.vector("v")
    outs = [T.tanh(x) * y + v, T.nnet.sigmoid(x) - T.nnet.softplus(y), T.exp(x) / (1 + y ** 2),
            T.log(abs(x) + 1), T.maximum(x, y), T.switch(x > 0, x, 0.1 * x), T.sqr(x - v)]
    _compare_c_and_python([x, y, v], outs, [_data((5, 4)), _data((5, 4), 1), _data(4, 2)], *ctol)


@pytest.mark.floatx
def test_reductions_c_vs_python(ctol):
    x = T.matrix("x")
    outs = [x.sum(axis=0), x.sum(axis=1), x.mean(), x.max(axis=1), T.argmax(x, axis=1),
            x.prod(axis=0), x.min(), (x ** 2).sum(), T.extra_ops.cumsum(x),
            T.extra_ops.cumsum(x, axis=1), T.extra_ops.cumprod(x, axis=0)]
    _compare_c_and_python([x], outs, [_data((7, 5))], *ctol)


@pytest.mark.floatx
def test_blas_and_a_gradient_c_vs_python(ctol):
    """dot (Gemm/Dot22), matrix-vector (Gemv) and the outer-product update (Ger)."""
    a, b = T.matrix("a"), T.matrix("b")
    u, w = T.vector("u"), T.vector("w")
    cost = T.tanh(T.dot(a, b)).sum() + T.dot(T.dot(a, w), u).sum()
    outs = [T.dot(a, b), T.dot(a, w), T.outer(u, u) + T.dot(a, a.T)] + T.grad(cost, [a, b, w])
    _compare_c_and_python([a, b, u, w], outs,
                          [_data((6, 5)), _data((5, 3), 1), _data(6, 2), _data(5, 3)], *ctol)


@pytest.mark.floatx
def test_softmax_and_cross_entropy_c_vs_python(ctol):
    """The tutorial's negative log-likelihood (fused into one C op when optimised), its
    gradient, categorical and binary cross-entropy."""
    z, W = T.matrix("z"), T.matrix("W")
    y = T.ivector("y")
    p = T.nnet.softmax(T.dot(z, W))
    nll = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    r = T.nnet.sigmoid(z)
    outs = [p, nll, T.grad(nll, W), T.nnet.categorical_crossentropy(p, y).mean(),
            T.nnet.binary_crossentropy(r, T.nnet.sigmoid(z * 2)).mean(), T.argmax(p, axis=1)]
    labels = numpy.array([0, 2, 1, 2, 0], dtype="int32")
    _compare_c_and_python([z, W, y], outs, [_data((5, 4)), _data((4, 3), 1), labels], *ctol)


@pytest.mark.floatx
def test_subtensor_and_advanced_inc_subtensor_c_vs_python(ctol):
    x, y = T.matrix("x"), T.matrix("y")
    idx = T.ivector("idx")
    outs = [x[idx], x[1:4, ::2], T.inc_subtensor(x[idx], y), T.set_subtensor(x[idx], y),
            T.inc_subtensor(x[1:3], 1.0), T.grad((x[idx] ** 2).sum(), x)]
    index = numpy.array([0, 3, 3, 1], dtype="int32")    # repeated: increments accumulate
    _compare_c_and_python([x, y, idx], outs, [_data((5, 3)), _data((4, 3), 1), index], *ctol)


@pytest.mark.floatx
def test_conv2d_and_gradients_c_vs_python(ctol):
    x, w = T.tensor4("x"), T.tensor4("w")
    out = T.nnet.conv2d(x, w)
    cost = (T.tanh(out) ** 2).sum()
    outs = [out, T.grad(cost, x), T.grad(cost, w)]
    _compare_c_and_python([x, w], outs, [_data((2, 3, 9, 8)), _data((4, 3, 3, 2), 1)], *ctol)


@pytest.mark.floatx
def test_pooling_c_vs_python(ctol):
    x = T.tensor4("x")
    pooled = pool_2d(x, (2, 2), ignore_border=True)
    outs = [pooled, T.grad((pooled ** 2).sum(), x),
            pool_2d(x, (3, 2), ignore_border=True, mode="average_exc_pad")]
    _compare_c_and_python([x], outs, [_data((2, 3, 7, 6))], *ctol)


@pytest.mark.floatx
def test_ifelse_c_vs_python(ctol):
    a, b = T.matrix("a"), T.matrix("b")
    c = T.scalar("c")
    outs = [ifelse(T.gt(c, 0), T.dot(a, b), a * 2), ifelse(T.lt(c, 0), a.sum(), b.sum())]
    for cond in (1.0, -1.0):
        _compare_c_and_python([a, b, c], outs,
                              [_data((3, 3)), _data((3, 3), 1), numpy.asarray(cond, FLOATX)],
                              *ctol)


@pytest.mark.floatx
def test_mrg_random_c_vs_python():
    """The generator the tutorial's autoencoders and RBMs use: same seed, same draws (binomial
    draws and float64 uniforms to the last bit; the rest within rounding)."""
    for draw in ("uniform", "normal", "binomial"):
        srng = MRG_RandomStreams(seed=1234)
        n = T.iscalar("n")
        if draw == "uniform":
            out = srng.uniform(size=(n, 7))
        elif draw == "normal":
            out = srng.normal(size=(n, 7))
        else:
            out = srng.binomial(size=(n, 7), n=1, p=0.3, dtype=FLOATX)
        f_c = theano.function([n], out, mode=theano.Mode(linker="cvm", optimizer="fast_run"))
        srng2 = MRG_RandomStreams(seed=1234)
        out2 = getattr(srng2, draw)(size=(n, 7), **(
            {"n": 1, "p": 0.3, "dtype": FLOATX} if draw == "binomial" else {}))
        f_py = theano.function([n], out2, mode=theano.Mode(linker="py", optimizer=None))
        for _ in range(2):                   # the stream's state advances the same way
            a, b = f_c(5), f_py(5)
            if draw == "binomial" or (draw == "uniform" and FLOATX == "float64"):
                numpy.testing.assert_array_equal(a, b)
            elif FLOATX == "float64":    # Box-Muller's log and cos: an ulp or so apart
                numpy.testing.assert_allclose(a, b, rtol=1e-14)
            elif draw == "uniform":      # C and Python scale the 31-bit state apart by an ulp
                numpy.testing.assert_allclose(a, b, rtol=3e-7)
            else:   # float32 Box-Muller: C and Python differ by up to ~4e-4 relative near the
                # zeros of cos (measured over 20000 draws; the same with numpy 1.26 and 2.2)
                numpy.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.floatx
def test_gibbs_chain_scan_c_vs_python(ctol):
    """An RBM-style Gibbs chain: scan over 4 steps of sigmoid + MRG binomial sampling."""
    rng = numpy.random.RandomState(0)
    W = theano.shared(rng.randn(6, 4).astype(FLOATX) * 0.3, name="W")
    v0 = T.matrix("v0")

    def build():
        srng = MRG_RandomStreams(seed=42)

        def step(v):
            p_h = T.nnet.sigmoid(T.dot(v, W))
            h = srng.binomial(size=p_h.shape, n=1, p=p_h, dtype=FLOATX)
            p_v = T.nnet.sigmoid(T.dot(h, W.T))
            return srng.binomial(size=p_v.shape, n=1, p=p_v, dtype=FLOATX)

        chain, updates = theano.scan(step, outputs_info=v0, n_steps=4)
        return chain, updates

    chain, updates = build()
    f_c = theano.function([v0], chain, updates=updates,
                          mode=theano.Mode(linker="cvm", optimizer="fast_run"))
    assert uses_compiled_scan(f_c)
    chain2, updates2 = build()
    f_py = theano.function([v0], chain2, updates=updates2,
                           mode=theano.Mode(linker="py", optimizer=None))
    start = (rng.rand(3, 6) > 0.5).astype(FLOATX)
    numpy.testing.assert_array_equal(f_c(start), f_py(start))


def test_measures_match_this_python():
    """Each measure is on exactly where this Python and numpy need it."""
    active = dict((n, a) for n, a, _, _ in compat.describe())
    numpy_major = int(numpy.__version__.split(".")[0])
    numpy_minor = int(numpy.__version__.split(".")[1])
    assert active["numpy aliases"] == ((numpy_major, numpy_minor) >= (1, 24))
    assert active["pooling's Python code (numpy >= 1.23 indexing)"] is True
    assert active["numpy 2 C API"] == (numpy_major >= 2)
    assert active["autocaster (NEP 50)"] == (numpy_major >= 2)
    assert active["AdvancedIncSubtensor1 in Python"] == (numpy_major >= 2)
    if sys.version_info >= (3, 12):
        assert active["numpy.distutils stand-in"] is True
    assert numpy.__version__ == ("2.2.6" if sys.version_info >= (3, 13) else "1.26.4")
    assert dltut.__version__


# --------------------------------------------------------------------------- the Makefile's Python
def _fake_python(folder, name, version, works=True):
    """An executable that answers like a Python of ``version`` (or like a pyenv shim of an
    inactive version: "command not found", exit 127)."""
    path = folder / name
    if works:
        path.write_text("#!/bin/sh\necho %s\n" % version)
    else:
        path.write_text("#!/bin/sh\necho \"pyenv: %s: command not found\" >&2\nexit 127\n" % name)
    path.chmod(0o755)
    return str(path)


def _find_pythons(tmp_path, *args, pyenv_root=None):
    """tools/find_pythons.sh with a PATH of the fake interpreters and the few commands the
    script runs (so that this machine's own Pythons stay out of sight)."""
    import shutil
    util = tmp_path / "util"
    util.mkdir(exist_ok=True)
    for tool in ("bash", "sort", "ls", "cut", "head", "cat"):
        if not (util / tool).exists():
            (util / tool).symlink_to(shutil.which(tool))
    env = {"PATH": "%s:%s" % (tmp_path / "bin", util)}
    if pyenv_root:
        fake = tmp_path / "bin" / "pyenv"
        fake.write_text("#!/bin/sh\n[ \"$1\" = root ] && echo %s\n" % pyenv_root)
        fake.chmod(0o755)
    out = subprocess.run(["bash", os.path.join(ROOT, "tools", "find_pythons.sh")] + list(args),
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("\n")[:-1]


def test_make_uses_the_active_python3_when_supported(tmp_path):
    (tmp_path / "bin").mkdir()
    _fake_python(tmp_path / "bin", "python3", "3.12")
    _fake_python(tmp_path / "bin", "python3.13", "3.13")
    assert _find_pythons(tmp_path, "default") == [str(tmp_path / "bin" / "python3")]


def test_make_takes_the_newest_supported_python_past_pyenv_shims(tmp_path):
    """python3 is 3.10 (unsupported); the 3.13 and 3.12 shims are inactive pyenv shims;
    the real interpreters live under `pyenv root`/versions."""
    (tmp_path / "bin").mkdir()
    _fake_python(tmp_path / "bin", "python3", "3.10")
    _fake_python(tmp_path / "bin", "python3.13", "3.13", works=False)
    _fake_python(tmp_path / "bin", "python3.12", "3.12", works=False)
    root = tmp_path / "pyenv"
    for version in ("3.12.1", "3.12.9", "3.11.7"):
        folder = root / "versions" / version / "bin"
        folder.mkdir(parents=True)
        _fake_python(folder, "python" + version[:4], version[:4])
    newest_312 = str(root / "versions" / "3.12.9" / "bin" / "python3.12")
    assert _find_pythons(tmp_path, "default", pyenv_root=root) == [newest_312]
    assert _find_pythons(tmp_path, "all", pyenv_root=root) == [
        "3.12 " + newest_312, "3.11 " + str(root / "versions" / "3.11.7" / "bin" / "python3.11")]
    assert _find_pythons(tmp_path, "others", newest_312, pyenv_root=root) == [
        "3.11 " + str(root / "versions" / "3.11.7" / "bin" / "python3.11")]


def test_make_finds_no_python(tmp_path):
    (tmp_path / "bin").mkdir()
    _fake_python(tmp_path / "bin", "python3", "3.9")
    assert _find_pythons(tmp_path, "default") in ([""], [])


# --------------------------------------------------------------------------- the compile cache
COUNT_COMPILES = """
import dltut, numpy, theano, theano.tensor as T
from theano.gof import cmodule
calls = []
original = cmodule.GCC_compiler.compile_str
def counting(module_name, src_code, *args, **kwargs):
    calls.append(module_name)
    return original(module_name, src_code, *args, **kwargs)
cmodule.GCC_compiler.compile_str = staticmethod(counting)
from dltut import MLP, TrainConfig, compile_functions, shared_datasets, synthetic_dataset
x, y = T.matrix("x"), T.ivector("y")
model = MLP(numpy.random.RandomState(1234), x, n_in=64, n_hidden=7, n_out=3)
data = shared_datasets(synthetic_dataset(numpy.random.RandomState(0), 40, 20, 20, n_features=64,
                                         n_classes=3))
compile_functions(model, x, y, data, TrainConfig(learning_rate=0.01, L2_reg=1e-4, batch_size=5))
v = theano.tensor.tensor4()
theano.function([v], v.dimshuffle(0, 2, 3, 1).sum())
print(len(calls))
"""


def test_a_second_process_compiles_nothing(tmp_path):
    """Theano's cache keys are stable across processes (dltut.compat.cache_keys): the same
    graphs built again in a new process reuse every module the first one compiled."""
    first = run_fresh(COUNT_COMPILES, env={"PYTHONHASHSEED": "1"}, cwd=str(tmp_path))
    assert first.returncode == 0, first.stderr
    second = run_fresh(COUNT_COMPILES, env={"PYTHONHASHSEED": "2"}, cwd=str(tmp_path))
    assert second.returncode == 0, second.stderr
    assert second.stdout.split()[-1] == "0", "compiled again: %s" % second.stdout


COUNT_PROBES = """
import subprocess
probes = []
original = subprocess.Popen.__init__
def noting(self, args, *rest, **kwargs):
    text = " ".join(args) if isinstance(args, (list, tuple)) else str(args)
    probes.extend(["march"] if "-march=native" in text else [])
    probes.extend(["gemv"] if "check_beta_" in text else [])
    original(self, args, *rest, **kwargs)
subprocess.Popen.__init__ = noting
import dltut, numpy, theano, theano.tensor as T
from theano.gof import cmodule
m, v = T.matrix("m"), T.vector("v")
f = theano.function([m, v], T.dot(m, v) + 1)     # a C gemv: both probes
assert any("Gemv" in type(n.op).__name__ for n in f.maker.fgraph.toposort())
print(" ".join(cmodule.GCC_compiler.march_flags))
print(sorted(set(probes)))
"""


def test_compiler_probes_run_once_per_compile_folder(tmp_path):
    """Theano probes the compiler's -march flags and the BLAS's gemv in every process;
    dltut.compat.probes keeps the answers in the compile folder, so a second process runs
    neither probe and uses the same flags; other compiler flags mean probing again."""
    def run(extra_flags=""):
        flags = ",".join(filter(None, [os.environ.get("THEANO_FLAGS"),
                                       "base_compiledir=%s" % (tmp_path / "theano"),
                                       extra_flags]))
        done = run_fresh(COUNT_PROBES, env={"THEANO_FLAGS": flags}, cwd=str(tmp_path))
        assert done.returncode == 0, done.stderr
        march, probes = done.stdout.strip().splitlines()[-2:]
        return march, probes
    first_march, first_probes = run()
    assert first_probes == "['gemv', 'march']"
    assert "-march=" in first_march
    again_march, again_probes = run()
    assert again_probes == "[]" and again_march == first_march
    other_march, other_probes = run("gcc.cxxflags=-fno-math-errno")
    assert other_probes == "['gemv', 'march']" and other_march == first_march


PARALLEL_COMPILE = """
import os, sys
import dltut, numpy, theano, theano.tensor as T
from dltut.compat import parallel_compile
if MODE == "fail":    # every compile ahead fails: Theano must compile them itself
    original = parallel_compile._compile_ahead
    class Broken:
        @staticmethod
        def compile_str(*args, **kwargs):
            raise OSError("no compiler today")
    parallel_compile._compile_ahead = lambda job, compiler, *rest: original(job, Broken, *rest)
# chains of elementwise functions never compiled before (5 ** 12 orders each): three new C
# modules (Theano fuses each chain into one), whatever the compile cache holds
FUNCTIONS = [(T.tanh, numpy.tanh), (T.sin, numpy.sin), (T.cos, numpy.cos),
             (T.arctan, numpy.arctan), (lambda v: T.log1p(abs(v)), lambda v: numpy.log1p(abs(v)))]
rng = numpy.random.RandomState(int.from_bytes(os.urandom(4), "little"))
chains = [rng.randint(len(FUNCTIONS), size=12) for _ in range(3)]
def chain(v, picks, which):
    for k in picks:
        v = FUNCTIONS[k][which](v)
    return v
x = T.matrix("x")
f = theano.function([x], [chain(x, picks, 0) for picks in chains])
v = numpy.linspace(-1, 1, 6).reshape(2, 3)
got = f(v.astype(theano.config.floatX))
for a, picks in zip(got, chains):
    numpy.testing.assert_allclose(a, chain(v, picks, 1), rtol=1e-4, atol=1e-6)
print(parallel_compile.STATS["ahead"], parallel_compile.STATS["used"], parallel_compile.STATS["failed"])
"""


@pytest.mark.parametrize("threads, mode", [("2", "ok"), ("1", "ok"), ("2", "fail")])
def test_modules_compiled_ahead_in_parallel_are_the_ones_theano_uses(threads, mode, tmp_path):
    """dltut.compat.parallel_compile: a new function's missing C modules are compiled ahead,
    several at once, and Theano takes them instead of compiling them again; one thread
    turns it off, and compiles that fail ahead are left to Theano."""
    done = run_fresh(PARALLEL_COMPILE.replace("MODE", repr(mode)),
                     env={"DLTUT_COMPILE_THREADS": threads}, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    ahead, used, failed = map(int, done.stdout.split()[-3:])
    if threads == "1":
        assert (ahead, used, failed) == (0, 0, 0)
    elif mode == "fail":
        assert ahead == used == 0 and failed >= 3
    else:   # at least one module per chain (Theano may split a chain), every one used
        assert ahead == used >= 3 and failed == 0


def test_cop_versions_do_not_depend_on_the_hash_seed(tmp_path):
    code = ("import theano.tensor as T\n"
            "print(T.DimShuffle((False, False), (1, 0)).c_code_cache_version())")
    outs = [run_fresh(code, env={"PYTHONHASHSEED": seed}, cwd=str(tmp_path)) for seed in "12"]
    assert all(o.returncode == 0 for o in outs), outs[0].stderr
    assert outs[0].stdout == outs[1].stdout


def test_cache_fixes_leave_other_theano_versions_alone(monkeypatch):
    from dltut.compat import cache_keys
    monkeypatch.setattr(cache_keys, "_theano_version", lambda: "1.0.6")
    class FakeOpModule:
        class COp:
            def c_code_cache_version(self):
                return ("original",)
    cache_keys._fix_cop_version(FakeOpModule)
    assert FakeOpModule.COp().c_code_cache_version() == ("original",)
    assert dict((n, a) for n, a, _, _ in compat.describe())["compile cache: COp versions"] is False
    monkeypatch.setattr(cache_keys, "_theano_version", lambda: theano.__version__)
    cache_keys._fix_cop_version(theano.gof.op)          # put the real record back


def test_key_files_are_written_whole(tmp_path, monkeypatch):
    """A process reading a module's key.pkl while another writes it must see the old file or
    the new one, never half of one (Theano deletes a module whose key.pkl it cannot read)."""
    import pickle
    from theano.gof import cmodule
    key_pkl = tmp_path / "key.pkl"
    data = cmodule.KeyData(keys={("k", 1)}, module_hash="abc", key_pkl=str(key_pkl),
                           entry=str(tmp_path / "abc.so"))
    data.save_pkl()
    before = key_pkl.read_bytes()
    assert pickle.loads(before).module_hash == "abc"

    import builtins
    real_open = builtins.open
    import os as _os
    real_fdopen = _os.fdopen

    class Interrupted:
        """A file that takes half the data, then the process "dies"."""

        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(bytes(data)[:len(data) // 2])
            raise KeyboardInterrupt("killed while writing")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(_os, "fdopen", lambda fd, *a, **k: Interrupted(real_fdopen(fd, *a, **k)))
    data.keys.add(("k", 2))
    with pytest.raises(KeyboardInterrupt):
        data.save_pkl()
    monkeypatch.setattr(_os, "fdopen", real_fdopen)
    assert key_pkl.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pkl"]
    assert real_open is builtins.open


PRECOMPILED_HEADER = """
import json, os
import dltut, numpy, theano, theano.tensor as T
from theano.gof import cmodule
from dltut.compat import pch
commands = []
inner = cmodule.output_subprocess_Popen
def outer(command, **params):           # the commands as Theano gives them, before dltut's
    commands.append(list(command))
    return inner(command, **params)
cmodule.output_subprocess_Popen = outer
if MODE == "broken":                     # a header that cannot compile: Theano's command again
    def broken_build(folder, cxx, flags, run):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "dltut_pch.h"), "w") as handle:
            handle.write("#error not a header\\n")
        return True
    pch._build = broken_build
x = T.matrix("x")
f = theano.function([x], [T.tanh(T.sin(x) * 3) + T.cos(x), T.arctan(x) ** 2 - abs(x),
                          T.log1p(abs(x)).sum(axis=0)])
v = numpy.linspace(-1, 1, 6).reshape(2, 3)
got = f(v.astype(theano.config.floatX))
want = [numpy.tanh(numpy.sin(v) * 3) + numpy.cos(v), numpy.arctan(v) ** 2 - abs(v),
        numpy.log1p(abs(v)).sum(axis=0)]
for a, b in zip(got, want):
    numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
print(json.dumps({"stats": pch.STATS, "compiledir": theano.config.compiledir,
                  "modules": [c for c in commands if pch._split(c)]}))
"""


def _precompiled_header_run(mode, tmp_path, env=None):
    flags = os.environ.get("THEANO_FLAGS", "")
    env = dict(env or {}, DLTUT_COMPILE_THREADS="1", THEANO_FLAGS=(flags + "," if flags else "")
               + "base_compiledir=%s" % (tmp_path / "theano"))
    done = run_fresh(PRECOMPILED_HEADER.replace("MODE", repr(mode)), env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    import json
    return json.loads(done.stdout.strip().splitlines()[-1])


def _machine_code(command, output):
    at = command.index("-o")
    done = subprocess.run(command[:at + 1] + [output] + command[at + 2:], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    dump = subprocess.run(["objdump", "-d", "--no-show-raw-insn", output], capture_output=True,
                          text=True, check=True).stdout
    return dump.split("\n", 3)[-1]           # without the line that names the file


def test_precompiled_header_compiles_the_same_machine_code(tmp_path):
    """dltut.compat.pch: in a fresh compile folder the first module compiles as Theano does,
    the second builds the precompiled header (once) and every later one uses it; a module
    compiled with the header has the same machine code as one compiled without."""
    from dltut.compat import pch
    out = _precompiled_header_run("ok", tmp_path)
    stats, modules = out["stats"], out["modules"]
    assert stats["built"] == 1 and stats["failed"] == stats["fallback"] == 0, stats
    ours = [c for c in modules if open(pch._split(c)[1]).read().startswith(
        "\n".join(pch.HEADER_LINES))]
    assert stats["used"] == len(ours) - 1 >= 2, (stats, len(ours))
    keys = os.listdir(os.path.join(out["compiledir"], pch.FOLDER))
    assert len(keys) == 1
    header = os.path.join(out["compiledir"], pch.FOLDER, keys[0], "dltut_pch.h")
    assert os.path.getsize(header + ".gch") > 1000000
    if not shutil.which("objdump"):
        pytest.skip("objdump (binutils) is not installed")
    command = ours[-1]
    at = command.index("-o") + 2
    with_header = command[:at] + ["-include", header] + command[at:]
    assert _machine_code(command, str(tmp_path / "plain.so")) == \
        _machine_code(with_header, str(tmp_path / "pch.so"))


@pytest.mark.slow   # the fallback does not depend on the Python: once, in the slow pass
def test_precompiled_header_that_fails_leaves_the_compile_to_theano(tmp_path):
    """A header that does not compile: every module is compiled again with Theano's own
    command, and the function still works."""
    out = _precompiled_header_run("broken", tmp_path)
    stats = out["stats"]
    assert stats["used"] == 0 and stats["fallback"] >= 2, stats


def test_precompiled_header_off(tmp_path, monkeypatch):
    """DLTUT_PCH=0: Theano's command goes unchanged (and nothing is run to look)."""
    from dltut.compat import pch
    source = tmp_path / "mod.cpp"
    source.write_text("\n".join(pch.HEADER_LINES) + "\nint x;\n")
    cmd = [theano.config.cxx, "-shared", "-O3", "-o", str(tmp_path / "m.so"), str(source)]
    def run(command):
        raise AssertionError("ran %s" % command)
    monkeypatch.setenv("DLTUT_PCH", "0")
    assert not pch.enabled() and pch._header_for(cmd, run) is None


def test_precompiled_header_key_follows_flags_and_headers(tmp_path):
    """Another flag, or a header changed in an -I folder (a new numpy), gives another key."""
    from dltut.compat import pch
    (tmp_path / "Python.h").write_text("/* one */\n")
    flags = ["-O3", "-I%s" % tmp_path]
    key = pch.pch_key("g++", flags)
    assert key == pch.pch_key("g++", list(flags))
    assert key != pch.pch_key("g++", ["-O2", "-I%s" % tmp_path])
    os.utime(tmp_path / "Python.h", ns=(1, 1))
    assert pch.pch_key("g++", flags) != key
    cmd = ["g++", "-shared", "-g", "-O3", "-L/lib", "-o", "m.so", "mod.cpp", "-lpython3"]
    assert pch._split(cmd) == (["-g", "-O3"], "mod.cpp")
    assert pch._split(["g++", "--version"]) is None
