"""Signals in the tests, written once: a Ctrl-C pressed inside this process, and a process
started, waited on until it is ready, sent a signal and collected.

In this process::

    log = CtrlCAt(4).wrap(lines.append)     # the 4th log line presses Ctrl-C

Another process::

    with running([sys.executable, script], stdout=subprocess.PIPE) as process:
        wait_for(process, lambda: lines_in(history) >= 3, 120, "3 history records")
        output, _ = stop(process, signal.SIGINT, timeout=60)

(The other shared modules: ``_helpers.py``, ``_tiny.py``, ``_cli.py``.)
"""
import contextlib
import os
import signal
import subprocess
import time


# ------------------------------------------------------------------------ in this process
def press_ctrl_c():
    """SIGINT to this process, what a Ctrl-C in its terminal sends."""
    os.kill(os.getpid(), signal.SIGINT)


class CtrlCAt:
    """Presses Ctrl-C at the ``at``-th call of the functions it wraps (one count for all of
    them): right after that call returns, or with ``before``, right before it is made.  With
    ``counts``, only the calls whose arguments ``counts(*args, **kwargs)`` accepts count."""

    def __init__(self, at, before=False, counts=None):
        self.at, self.before, self.counts, self.calls = at, before, counts, 0

    def wrap(self, fn):
        def call(*args, **kwargs):
            due = False
            if self.counts is None or self.counts(*args, **kwargs):
                self.calls += 1
                due = self.calls == self.at
            if due and self.before:
                press_ctrl_c()
            out = fn(*args, **kwargs)
            if due and not self.before:
                press_ctrl_c()
            return out
        return call


# ------------------------------------------------------------------------ another process
def ctrl_c_as_default():
    """``preexec_fn`` that gives the child Python's own Ctrl-C handling back: a background
    job of a shell (``make test &``) inherits SIGINT ignored, and Python keeps it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def running(argv, ctrl_c=False, **popen):
    """``subprocess.Popen`` of ``argv`` (each item as ``str``; text mode), with Ctrl-C
    handling as default when ``ctrl_c``.  On leaving, a process still running is killed
    (SIGKILL) and waited for: a failed test leaves no process behind."""
    popen.setdefault("text", True)
    if ctrl_c:
        popen["preexec_fn"] = ctrl_c_as_default
    process = subprocess.Popen([str(a) for a in argv], **popen)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(process, ready, timeout, what, output=None, poll=0.02):
    """Call ``ready()`` every ``poll`` seconds until it returns something true, and return
    that.  AssertionError naming ``what`` when ``process`` ends first (with its exit code and
    ``output()``, by default what it wrote to its pipes) or when ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        if process.poll() is not None:
            text = output() if output else "\n".join(
                part for part in process.communicate() if part)
            raise AssertionError("the process ended (exit %s) before %s: %s"
                                 % (process.returncode, what, text))
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %s s" % (what, timeout))
        time.sleep(poll)


def stop(process, sig=signal.SIGINT, timeout=60, group=False):
    """Send ``sig`` to ``process`` (to its process group with ``group``) and wait for it up to
    ``timeout`` seconds: ``process.communicate()``'s ``(stdout, stderr)``, the pipes' text or
    None.  A process that has ended already is only waited for."""
    try:
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except ProcessLookupError:
        pass
    return process.communicate(timeout=timeout)


def lines_in(path):
    """The number of complete lines of the file at ``path``; 0 while it does not exist."""
    try:
        with open(str(path), "rb") as handle:
            return handle.read().count(b"\n")
    except OSError:
        return 0
