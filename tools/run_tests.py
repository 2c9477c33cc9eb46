#!/usr/bin/env python3
"""Run the test passes of ``make test`` side by side, one lane per core.

    python3 tools/run_tests.py PASS [PASS ...]      PASS = LABEL=PYTHON:FLOATX[:SELECTION[:K/N]]

Each pass is ``PYTHON -m pytest -q`` with ``floatX=FLOATX`` added to the user's THEANO_FLAGS;
SELECTION ``full`` (the default) runs the whole suite, ``fast`` all but the slow
end-to-end runs (see :data:`FAST`), ``slow`` only those (:data:`SLOW`; ``fast`` and ``slow``
together are ``full``, in two passes that can run side by side), ``sample`` the fast tests
with each parametrized test's first parameter set only (see :data:`SAMPLE`), ``compat`` the
compatibility layer's floatX-dependent tests alone (:data:`COMPAT`); ``sample:K/N`` the K-th of N shares of those test
files (conftest's --share: N passes on N Pythons split the files between them, each also
running the compatibility layer's tests).  Passes are started longest
first on ``DLTUT_TEST_LANES`` lanes (default: the number of cores, at most the number of
passes); each lane compiles into a Theano folder of its own
(``<base_compiledir>/dltut-test-lane<k>``), so that two passes never wait on one compile
lock, as search workers do.  A line says when each pass starts and ends (with pytest's
closing line); at the end every pass's output is printed whole, in the order given, and a
last line counts all passes together.  The exit status is 0 only if every pass passed.

Extra pytest arguments go in ``PYTEST_ARGS`` (e.g. ``-x -k search``).
"""
import os
import queue
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time

#: What ``fast`` leaves out: the tests marked slow -- end-to-end runs on MNIST whose
#: numbers are the tutorial's float32 ones, kill -9 / Ctrl-C at random moments, a full
#: disk, the search's cluster and kill tests, a wheel build.  ``make test`` runs them once,
#: in the float32 pass of the first Python; what they prove does not depend on floatX, and
#: bench/compare_pythons.py compares the printed numbers across Pythons bit for bit.
FAST = ["-m", "not slow"]

#: The other half of ``full``: the slow tests alone.
SLOW = ["-m", "slow"]

#: The compatibility layer's tests whose results depend on floatX (marked ``floatx``: the
#: constants' dtypes, the C code against the Python code, the compiled scan), for a pass in
#: the other floatX on a Python whose shares run tests/test_compat.py whole.  The rest of
#: that file (the start-up hook, the import graph, the compile cache, the precompiled
#: header) does not depend on floatX, and is not run twice on one Python.
COMPAT = ["tests/test_compat.py", "-m", "floatx"]

#: What runs on the other Pythons: the fast tests, each test function once (its first
#: parameter set; tests/conftest.py's --one-variant).  The compatibility layer's own tests
#: are whole there (they are not parametrized by case); the variants (shapes of the
#: convolution, the fault suite's many bad inputs, ...) exercise the same code paths with
#: other values, and run in full on the first Python in both floatX.
SAMPLE = FAST + ["--one-variant"]

#: Rough minutes each selection takes on a fresh machine (longest first is started first).
WEIGHT = {"full": 10, "fast": 8, "slow": 7, "sample": 5, "compat": 1}

#: pytest's closing line, with -q ("839 passed, 1 skipped in 380.00s (0:06:20)") or without
#: ("===== 839 passed, ... in 380.00s =====").
SUMMARY = re.compile(r"^(?:=+ )?(\d+ (?:passed|failed|errors?|skipped|deselected).*?|no tests ran)"
                     r" in [0-9.]+s\b.*$")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)")


def parse(spec):
    label, _, rest = spec.partition("=")
    parts = rest.split(":")
    if not label or len(parts) < 2:
        sys.exit("run_tests.py: %r: give LABEL=PYTHON:FLOATX[:full|fast|slow|sample|compat[:K/N]]" % spec)
    python, floatx = parts[0], parts[1]
    selection = parts[2] if len(parts) > 2 else "full"
    if selection not in WEIGHT:
        sys.exit("run_tests.py: %r: selection must be full, fast, slow, sample or compat" % spec)
    share = parts[3] if len(parts) > 3 and parts[3] != "1/1" else None
    if share and (selection != "sample" or not re.match(r"^\d+/\d+$", share)):
        sys.exit("run_tests.py: %r: a share K/N goes with sample only, e.g. :sample:1/2" % spec)
    return {"label": label, "python": python, "floatx": floatx, "selection": selection,
            "share": share}


def base_compiledir():
    return os.path.join(os.path.expanduser("~"), ".theano")


def run_pass(item, lane, logdir, lock):
    flags = os.environ.get("THEANO_FLAGS", "")
    ours = "floatX=%s" % item["floatx"]
    if "base_compiledir" not in flags and lane is not None:
        ours += ",base_compiledir=%s" % os.path.join(base_compiledir(),
                                                       "dltut-test-lane%d" % lane)
    env = dict(os.environ, THEANO_FLAGS=(flags + "," if flags else "") + ours)
    argv = [item["python"], "-m", "pytest", "-q"]
    argv += {"full": [], "fast": FAST, "slow": SLOW, "sample": SAMPLE,
             "compat": COMPAT}[item["selection"]]
    if item.get("share"):
        argv += ["--share", item["share"]]
    argv += ["--durations=10"]
    argv += shlex.split(os.environ.get("PYTEST_ARGS", ""))
    item["log"] = os.path.join(logdir, "%s.log" % re.sub(r"[^A-Za-z0-9.]+", "-", item["label"]))
    with lock:
        print("[%s] %s: started (%s)" % (time.strftime("%H:%M:%S"), item["label"],
                                         " ".join(map(shlex.quote, argv))), flush=True)
    start = time.time()
    with open(item["log"], "w") as log:
        code = subprocess.call(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                               stdin=subprocess.DEVNULL)
    item["code"], item["seconds"] = code, time.time() - start
    with open(item["log"], errors="replace") as log:
        text = log.read()
    found = [m.group(1) for m in map(SUMMARY.match, text.splitlines()) if m]
    item["summary"] = found[-1] if found else "no summary line (exit %d)" % code
    item["counts"] = {}
    for number, kind in COUNT.findall(item["summary"]):
        kind = "errors" if kind.startswith("error") else kind
        item["counts"][kind] = item["counts"].get(kind, 0) + int(number)
    with lock:
        print("[%s] %s: %s, exit %d, %d min %02d s" % (
            time.strftime("%H:%M:%S"), item["label"], item["summary"], code,
            item["seconds"] // 60, item["seconds"] % 60), flush=True)


def main(argv):
    items = [parse(spec) for spec in argv]
    if not items:
        sys.exit(__doc__)
    lanes = int(os.environ.get("DLTUT_TEST_LANES") or 0) or (os.cpu_count() or 1)
    lanes = max(1, min(lanes, len(items)))
    todo = queue.Queue()
    for item in sorted(items, key=lambda i: -WEIGHT[i["selection"]]):
        todo.put(item)
    lock = threading.Lock()
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="dltut-tests-") as logdir:
        def lane(number):
            while True:
                try:
                    item = todo.get_nowait()
                except queue.Empty:
                    return
                run_pass(item, number if lanes > 1 else None, logdir, lock)
        threads = [threading.Thread(target=lane, args=(k + 1,)) for k in range(lanes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for item in items:
            print("\n===== %s (%s, floatX=%s, %s) =====" % (
                item["label"], item["python"], item["floatx"], item["selection"]))
            with open(item["log"], errors="replace") as log:
                sys.stdout.write(log.read())
    wall = time.time() - start
    total = {}
    for item in items:
        for kind, number in item["counts"].items():
            total[kind] = total.get(kind, 0) + number
    print("\n%d test passes on %d lane%s in %d min %02d s:" % (
        len(items), lanes, "" if lanes == 1 else "s", wall // 60, wall % 60))
    for item in items:
        print("  %-24s %s (%d min %02d s)" % (item["label"], item["summary"],
                                             item["seconds"] // 60, item["seconds"] % 60))
    failed = [item["label"] for item in items if item["code"] != 0]
    if failed:
        print("failed passes: %s" % ", ".join(failed))
    print("total: %d passed, %d failed, %d skipped" % (
        total.get("passed", 0), total.get("failed", 0) + total.get("errors", 0),
        total.get("skipped", 0)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
