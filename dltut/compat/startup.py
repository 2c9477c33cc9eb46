"""dltut's start-up hook: lets a program import Theano before it imports dltut.

dltut must prepare Theano 1.0.5 before Theano's first line runs (a working
``blas.ldflags``, and the measures of :mod:`dltut.compat`).  When dltut is installed,
site-packages holds ``dltut-startup.pth``.  Python runs that file's one line at start-up
(:data:`PTH_LINE`, which runs :data:`STARTUP_CODE`): it puts a small finder first on
``sys.meta_path`` that ignores every module but ``theano``.  The first time ``theano`` is
imported, the finder removes itself, imports dltut (which configures Theano and installs
:data:`dltut.compat.HOOK`) and hands the import over to that hook.  Nothing else happens at
start-up: no numpy, no Theano and no dltut until ``theano`` is asked for, and no
dependence on the order in which Python reads the other ``.pth`` files.

A regular installation (``pip install .`` or a wheel) puts the file into site-packages
itself (setup.py).  An editable one (``pip install -e .``, what ``make`` does) cannot, so
the Makefile runs::

    python -m dltut.compat.startup install     # or: remove, status

The line does nothing when dltut is no longer importable, so a leftover file is harmless.
This module imports only the standard library (setup.py loads it by its path).
"""
import argparse
import os
import sys
import sysconfig
import tempfile

#: The file's name in site-packages.
PTH_NAME = "dltut-startup.pth"

#: What the file runs at every start-up of this Python environment.
STARTUP_CODE = '''\
import sys


class DltutWaitsForTheano:
    """dltut's start-up hook (dltut-startup.pth): lets dltut prepare Theano on its first import."""

    _dltut_startup_hook = True

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "theano":
            return None
        sys.meta_path[:] = [f for f in sys.meta_path
                            if not getattr(f, "_dltut_startup_hook", False)]
        import importlib.util
        if importlib.util.find_spec("dltut") is None:
            return None          # dltut was uninstalled and left this file behind
        try:
            from dltut import compat
        except Exception as exc:   # a broken dltut must not break Theano's own import
            sys.stderr.write("dltut start-up hook: Theano left unprepared (%s: %s)\\n"
                             % (type(exc).__name__, exc))
            return None
        return compat.HOOK.find_spec(fullname, path, target)


if "theano" not in sys.modules and "dltut" not in sys.modules and not any(
        getattr(f, "_dltut_startup_hook", False) for f in sys.meta_path):
    sys.meta_path.insert(0, DltutWaitsForTheano())
'''

#: The file's content: Python executes .pth lines that begin with "import".
PTH_LINE = "import sys; exec(%r, {'__name__': 'dltut_startup'})\n" % STARTUP_CODE


def pth_path(site_dir=None):
    """Where the file goes: ``site_dir`` or this interpreter's purelib folder."""
    return os.path.join(site_dir or sysconfig.get_paths()["purelib"], PTH_NAME)


def is_installed(site_dir=None):
    """True when the file is there with the line this dltut writes."""
    try:
        with open(pth_path(site_dir), encoding="utf-8") as f:
            return f.read() == PTH_LINE
    except OSError:
        return False


def install(site_dir=None):
    """Write the file (atomically, mode 0644); returns its path."""
    path = pth_path(site_dir)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".dltut-startup-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(PTH_LINE)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def remove(site_dir=None):
    """Delete the file if it is there; returns whether it was."""
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
