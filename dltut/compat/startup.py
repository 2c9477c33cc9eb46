"""dltut's start-up hook: lets a program import Theano before it imports dltut.

dltut must prepare Theano 1.0.5 before Theano's first line runs (a working
``blas.ldflags``, and the measures of :mod:`dltut.compat`).  When dltut is installed,
site-packages holds ``dltut-startup.pth``.  Python runs that file's one line at start-up
(:data:`PTH_LINE`): it puts a finder first on ``sys.meta_path`` that ignores every module
but ``theano``.  The first time ``theano`` is imported, the finder checks that dltut is
still installed and calls :func:`take_over`, which removes the finder, imports dltut (which
configures Theano and installs :data:`dltut.compat.HOOK`) and hands the import to that
hook.  Nothing else happens at start-up -- no numpy, no Theano, no dltut, no file read --
and nothing depends on the order in which Python reads the ``.pth`` files.  The line is
kept to one statement so that start-up pays only for compiling it (measured: about 0.2 ms
of site.py's time, 2.27 -> 2.49 ms, with `python -X importtime`).

Every installation puts the file into site-packages itself (setup.py): a wheel
(``pip install .``) carries it, and so does the editable wheel of ``pip install -e .``
(what ``make`` does), or, where pip runs the older ``setup.py develop`` instead, that
command writes it.  By hand, for an installation made some other way::

    python -m dltut.compat.startup install     # or: remove, status

Left behind after dltut is uninstalled, the file does nothing (the finder steps aside when
it cannot find dltut).  This module imports only the standard library (setup.py loads it
by its path).
"""
import argparse
import os
import sys
import sysconfig

__all__ = ["PTH_NAME", "PTH_LINE", "take_over", "files", "pth_path", "is_installed", "install",
           "remove", "main"]

#: The file's name in site-packages.
PTH_NAME = "dltut-startup.pth"

#: The line: one statement (a class made with ``type`` and a lambda, so that nothing but
#: this line is compiled at start-up), which adds the finder once (some Pythons read a
#: venv's site-packages twice).
PTH_LINE = (
    'import sys; any(getattr(f, "_dltut_startup_hook", 0) for f in sys.meta_path) or '
    'sys.meta_path.insert(0, type("DltutWaitsForTheano", (), {'
    '"__doc__": "dltut-startup.pth: lets dltut prepare Theano (dltut/compat/startup.py)", '
    '"_dltut_startup_hook": True, '
    '"find_spec": lambda self, name, path=None, target=None: None if name != "theano" '
    'or __import__("importlib.util").util.find_spec("dltut") is None '
    'else __import__("dltut.compat.startup").compat.startup.take_over(name, path, target)'
    '})())\n')


def take_over(fullname, path=None, target=None):
    """What the start-up finder does on the first ``import theano``: step aside and let
    dltut configure Theano and find it (None, Theano on its own, if dltut cannot load)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "_dltut_startup_hook", False)]
    try:
        from dltut import compat
    except Exception as exc:   # a broken dltut must not break Theano's own import
        sys.stderr.write("dltut start-up hook: Theano left unprepared (%s: %s)\n"
                         % (type(exc).__name__, exc))
        return None
    return compat.HOOK.find_spec(fullname, path, target)


def files():
    """``{file name: content}`` of what goes into site-packages."""
    return {PTH_NAME: PTH_LINE}


def pth_path(site_dir=None):
    """Where the file goes: ``site_dir`` or this interpreter's purelib folder."""
    return os.path.join(site_dir or sysconfig.get_paths()["purelib"], PTH_NAME)


def is_installed(site_dir=None):
    """True when the file is there with what this dltut writes."""
    folder = os.path.dirname(pth_path(site_dir))
    for name, content in files().items():
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                if f.read() != content:
                    return False
        except OSError:
            return False
    return True


def install(site_dir=None):
    """Write the file (atomically, dltut's one atomic write); returns its path."""
    from dltut.runs.checkpoint import atomic_write   # here: setup.py loads this module alone
    path = pth_path(site_dir)
    if not os.path.isdir(os.path.dirname(path)):      # a site-packages folder, not a new one
        raise FileNotFoundError(2, "No such folder", os.path.dirname(path))
    atomic_write(path, PTH_LINE.encode("utf-8"))
    return path


def remove(site_dir=None):
    """Delete the file; returns whether it was there."""
    try:
        os.remove(pth_path(site_dir))
    except FileNotFoundError:
        return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m dltut.compat.startup",
        description="Install, remove or check dltut's start-up hook (%s), which lets "
                    "`import theano` come before `import dltut`." % PTH_NAME)
    parser.add_argument("action", choices=("install", "remove", "status"))
    parser.add_argument("--site-dir", default=None,
                        help="site-packages folder (default: this interpreter's, %s)"
                        % os.path.dirname(pth_path()))
    args = parser.parse_args(argv)
    path = pth_path(args.site_dir)
    try:
        if args.action == "install":
            print("installed %s" % install(args.site_dir))
        elif args.action == "remove":
            print(("removed %s" if remove(args.site_dir) else "no %s to remove") % path)
        else:
            installed = is_installed(args.site_dir)
            print("%s: %s" % (path, "installed" if installed else "not installed"))
            return 0 if installed else 1
    except OSError as exc:
        print("python -m dltut.compat.startup: error: cannot %s %s (%s)"
              % (args.action, path, exc.strerror or exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
