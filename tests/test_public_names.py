"""Each dltut module says what it exports (``__all__``), and the modules use only that of
each other (issue 24).

Read from the source (``ast``), nothing imported, except for the check that the names of
each ``__all__`` exist:

* every module that binds a name has an ``__all__``;
* every name of an ``__all__`` is there when the module is imported;
* no module uses another module's private (``_name``) names: neither ``from X import _name``
  nor ``X._name`` where ``X`` is a dltut module (imports inside functions count too);
* every name a module takes from another module is in that module's ``__all__``.

``python tests/test_public_names.py`` prints, per module, the names the other modules take
from it and any violation.
"""
import ast
import importlib
import os
import sys
from collections import defaultdict

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "dltut")

#: Files that are no module of the package: ``python -m dltut.search``'s script (importing it
#: runs a search) and the ``sitecustomize`` that only Theano's build puts on the path.
NOT_MODULES = {"dltut/search/__main__.py", "dltut/compat/theano_build/sitecustomize.py"}

#: Files without an ``__all__`` of their own: ``dltut/info.py`` replaces itself in
#: ``sys.modules`` with :mod:`dltut.runtime.info` (``import dltut.info`` gives that module,
#: whose ``__all__`` counts).
NO_ALL = {"dltut/info.py"}

#: (module, private name) that other modules may still use: none (``dltut.runtime._setup``,
#: the last one, is ``dltut.runtime.setup`` now).  ``dltut/__init__.py`` binds it as
#: ``_runtime_setup``, a private name of its own.
PRIVATE_ALLOWED = set()


def is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def package_modules(root=PACKAGE):
    """Dotted module name (``dltut.runs.rundir``; a package's is its ``__init__``'s) -> path."""
    modules = {}
    top = os.path.dirname(root)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, top).replace(os.sep, "/")
            if not name.endswith(".py") or rel in NOT_MODULES:
                continue
            parts = rel[:-3].split("/")
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def parse(path):
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def declared_all(tree):
    """The names of a module-level ``__all__ = [...]`` (or ``sorted(...)`` of a dict, as
    ``dltut/__init__.py`` has: then None, the names are checked by importing), or False
    when the module has none."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return list(ast.literal_eval(node.value))
            except ValueError:
                return None
    return False


def binds_names(tree):
    """Whether the module binds any name at its top level (a file of only a docstring
    exports nothing and needs no ``__all__``)."""
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body)


def uses(name, path, modules):
    """What module ``name`` (at ``path``) takes from the other dltut modules: a list of
    ``(used module, name, line)``, from ``from X import name`` and ``X.name`` (``X`` bound
    to a dltut module by an import anywhere in the file; ``X.sub.name`` follows
    sub-modules).  A sub-module taken as a name (``from . import flags``) is not listed."""
    tree = parse(path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    bound = {}      # local name -> dltut module it stands for
    found = []

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                stem = package.split(".")
                stem = stem[:len(stem) - node.level + 1]
                source = ".".join(stem + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source not in modules:
                continue
            for alias in node.names:
                sub = source + "." + alias.name
                if sub in modules:
                    bound[alias.asname or alias.name] = sub
                    if is_private(alias.name):    # a private module is a private name too
                        found.append((source, alias.name, node.lineno))
                elif alias.name != "*":
                    found.append((source, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "dltut":
                    continue
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound["dltut"] = "dltut"

    def chain(node):
        """``a.b.c`` -> ["a", "b", "c"], or None if it does not start at a name."""
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        return [node.id] + attrs[::-1]

    seen = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in seen:
            continue
        parts = chain(node)
        if not parts or parts[0] not in bound:
            continue
        # the inner attributes of this chain are the same use: look at them no more
        inner = node.value
        while isinstance(inner, ast.Attribute):
            seen.add(id(inner))
            inner = inner.value
        module = bound[parts[0]]
        for attr in parts[1:]:
            if module + "." + attr in modules:
                module = module + "." + attr
                if is_private(attr):
                    found.append((module.rpartition(".")[0], attr, node.lineno))
                continue
            found.append((module, attr, node.lineno))
            break
    return [(used, attr, line) for used, attr, line in found if used != name]


def survey(root=PACKAGE):
    """``(modules, trees, taken)``: the modules, their syntax trees, and ``taken[module]``,
    the ``(user, name, line)`` of every use of one of ``module``'s names elsewhere."""
    modules = package_modules(root)
    taken = defaultdict(list)
    for user, path in modules.items():
        for used, attr, line in uses(user, path, modules):
            taken[used].append((user, attr, line))
    return modules, {m: parse(p) for m, p in modules.items()}, taken


def rel(path):
    """``dltut/runs/rundir.py``: the path from the package's parent folder."""
    return "dltut/" + path.replace(os.sep, "/").rpartition("/dltut/")[2]


def missing_all(modules, trees):
    return [rel(modules[m]) for m, tree in sorted(trees.items())
            if declared_all(tree) is False and binds_names(tree)
            and rel(modules[m]) not in NO_ALL]


def private_uses(modules, taken):
    return ["%s:%d uses %s.%s" % (rel(modules[user]), line, used, attr)
            for used, users in sorted(taken.items()) for user, attr, line in users
            if is_private(attr) and (used, attr) not in PRIVATE_ALLOWED]


def unexported_uses(modules, trees, taken):
    """Uses of a public name that is not in its module's ``__all__``."""
    out = []
    for used, users in sorted(taken.items()):
        names = declared_all(trees[used])
        if names is None:           # a computed __all__ (dltut's own): checked by importing
            names = list(getattr(importlib.import_module(used), "__all__", []))
        for user, attr, line in users:
            if not is_private(attr) and attr not in (names or ()):
                out.append("%s:%d takes %s from %s, not in its __all__"
                           % (rel(modules[user]), line, attr, used))
    return out


# ------------------------------------------------------------------------------------ the tests
def test_every_module_has_all():
    modules, trees, _ = survey()
    assert len(modules) > 40
    assert missing_all(modules, trees) == []


@pytest.mark.parametrize("name", sorted(package_modules()))
def test_all_names_exist(name):
    path = package_modules()[name]
    if rel(path) in NO_ALL:
        pytest.skip("%s is an alias of another module" % rel(path))
    module = importlib.import_module(name)
    names = getattr(module, "__all__", [])
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert [n for n in names if not hasattr(module, n)] == []
    assert [n for n in names if is_private(n)] == []


def test_no_module_uses_another_modules_private_names():
    modules, _, taken = survey()
    assert private_uses(modules, taken) == []


def test_names_taken_from_a_module_are_in_its_all():
    modules, trees, taken = survey()
    assert unexported_uses(modules, trees, taken) == []


def test_the_checks_find_planted_violations(tmp_path):
    """A small package with one of each violation: the checks above report each one, and
    nothing else."""
    pkg = tmp_path / "dltut"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Only a docstring."""\n')
    (pkg / "sub" / "__init__.py").write_text('"""Only a docstring."""\n')
    (pkg / "a.py").write_text('__all__ = ["f"]\n\n\ndef f():\n    pass\n\n\n'
                              'def g():\n    pass\n\n\ndef _h():\n    pass\n')
    (pkg / "sub" / "b.py").write_text(
        '"""No __all__."""\nimport dltut.a\nfrom .. import a as mod_a\nfrom ..a import f, _h\n\n\n'
        'def k():\n    from dltut.a import g\n    return dltut.a._h, mod_a.g, g\n')
    (pkg / "sub" / "c.py").write_text(
        '__all__ = []\nfrom dltut.sub import b\nfrom . import _hidden\n\n\n'
        'def m():\n    return b.k(), b._secret\n')
    (pkg / "sub" / "_hidden.py").write_text('__all__ = []\n')
    modules, trees, taken = survey(str(pkg))
    assert sorted(modules) == ["dltut", "dltut.a", "dltut.sub", "dltut.sub._hidden",
                               "dltut.sub.b", "dltut.sub.c"]
    assert missing_all(modules, trees) == ["dltut/sub/b.py"]
    assert sorted(private_uses(modules, taken)) == [
        "dltut/sub/b.py:4 uses dltut.a._h", "dltut/sub/b.py:9 uses dltut.a._h",
        "dltut/sub/c.py:3 uses dltut.sub._hidden", "dltut/sub/c.py:7 uses dltut.sub.b._secret"]
    assert sorted(unexported_uses(modules, trees, taken)) == [
        "dltut/sub/b.py:8 takes g from dltut.a, not in its __all__",
        "dltut/sub/b.py:9 takes g from dltut.a, not in its __all__",
        "dltut/sub/c.py:7 takes k from dltut.sub.b, not in its __all__"]


if __name__ == "__main__":
    found_modules, found_trees, found_taken = survey()
    for module_name in sorted(found_modules):
        names = sorted({attr for _, attr, _ in found_taken.get(module_name, [])})
        print("%-32s %s" % (module_name, " ".join(names)))
    print("\nno __all__:", *missing_all(found_modules, found_trees), sep="\n  ")
    print("\nprivate:", *private_uses(found_modules, found_taken), sep="\n  ")
    print("\nnot exported:", *unexported_uses(found_modules, found_trees, found_taken),
          sep="\n  ")
    sys.exit(0)
