"""dltut.cli.common: the commands the scripts print can be copied and run as they are."""
import os
import subprocess
import sys

from dltut.cli.common import python_command, script_command


def _run(command, cwd, path):
    """``command -c 'print(sys.executable)'`` through the shell, in ``cwd`` with ``PATH``."""
    out = subprocess.run(command + " -c 'import sys; print(sys.executable)'", shell=True,
                         cwd=cwd, env=dict(os.environ, PATH=path), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_printed_python_is_this_interpreter_wherever_the_user_stands(tmp_path, monkeypatch):
    here = os.path.dirname(os.path.abspath(sys.executable))
    bare = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if os.path.abspath(p or ".") != here) or "/usr/bin"
    # no activated venv: a path, relative to the working folder when inside it
    for cwd in (os.path.dirname(here), str(tmp_path)):
        monkeypatch.chdir(cwd)
        monkeypatch.setenv("PATH", bare)
        command = python_command()
        assert command != "python"
        assert _run(command, cwd, bare) == os.path.abspath(sys.executable)
        assert os.path.isabs(command) == (cwd == str(tmp_path)), command
    # an activated venv (its bin first on PATH): plain "python"
    if os.path.exists(os.path.join(here, "python")):
        monkeypatch.setenv("PATH", here + os.pathsep + bare)
        assert python_command() == "python"
        assert _run("python", str(tmp_path), here + os.pathsep + bare) == \
            os.path.abspath(sys.executable)


def test_script_command_names_the_script_and_its_arguments(monkeypatch):
    monkeypatch.setattr("dltut.cli.common.python_command", lambda: "PY")
    assert script_command("mlp", "--resume", "runs/x") == "PY scripts/mlp.py --resume runs/x"
