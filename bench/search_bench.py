#!/usr/bin/env python
"""How fast does scripts/search.py run trials: 2 workers against 1, and Theano's compile lock.

    python bench/search_bench.py                 # about 5-8 minutes on 2 busy cores
    python bench/search_bench.py --epochs 3 --work /tmp/sb   # keep the search folders

One search -- the MLP (784-500-10, batch 20) on a synthetic dataset, learning rate x L2 on
a 2 x 3 grid, so that trials compile a few new modules each (an L2 weight is a constant in
Theano's generated C code) -- is run several times, each time in a fresh search folder:

* **warm, per-worker compile folders** (the default): first once untimed, so that each
  worker's folder holds the modules, then timed with ``--workers 1`` and ``--workers 2``.
  The ratio is the speed-up of 2 workers over 1.
* **cold**: the same search with an empty Theano base folder, ``--compiledir shared``
  (both workers compile into one folder and take turns on its lock; a waiting process
  sleeps 5-10 s before it looks again) and ``--compiledir per-worker`` (each compiles
  everything itself, never waiting), each with 1 and 2 workers.
* **shared, Theano's usual folder** (``~/.theano``, warm, and used by every other Theano
  process of this user on this machine): 2 workers.
* **a trial per process**: one trial as ``python scripts/mlp.py`` in a new process against
  the same trial run in a warm worker (what a search does).

Each line gives the search's wall time and the time its trials spent acquiring Theano's
compile lock (summed over trials, read from results.json; taking a free lock costs a few
milliseconds).  The header gives the load average and the busiest other processes: the
machine is shared, and on 2 cores every other busy process slows the 2-worker search more
than the 1-worker one.
"""
import argparse
import gzip
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import dltut  # noqa: E402,F401  (Theano set-up before numpy loads)
from dltut.runtime import setup, flags  # noqa: E402
import dltut.search as search  # noqa: E402

import numpy  # noqa: E402

GRID = ["--grid", "learning-rate=0.01,0.03", "--grid", "L2-reg=1e-5,1e-4,1e-3"]


def write_dataset(path, n_train):
    from dltut.data import synthetic_dataset
    splits = synthetic_dataset(numpy.random.RandomState(0), n_train, 2000, 2000, noise=0.8)
    with gzip.open(path, "wb") as handle:
        pickle.dump(splits, handle, protocol=2)


def _cpu_times():
    """``{pid: (parent pid, command, CPU seconds so far)}`` from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                text = handle.read()
        except OSError:
            continue
        command = text[text.index("(") + 1:text.rindex(")")]
        try:  # "python" says little: add what it runs (its first argument, shortened)
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                args = handle.read().decode(errors="replace").split("\0")
            shown = [a for a in args[1:3] if a][:2]
            if shown and command.startswith("python"):
                command = " ".join([command] + [os.path.basename(a) if "/" in a else a
                                                for a in shown])[:40]
        except OSError:
            pass
        fields = text[text.rindex(")") + 2:].split()
        found[int(name)] = (int(fields[1]), command, (int(fields[11]) + int(fields[12])) / ticks)
    return found


def busiest(n=6, seconds=2.0):
    """The processes outside this benchmark that used the most CPU over ``seconds``, as one
    line (Linux /proc; "unknown" elsewhere)."""
    if not os.path.isdir("/proc/self"):
        return "unknown"
    before = _cpu_times()
    time.sleep(seconds)
    after = _cpu_times()

    def ours(pid):
        while pid > 1:
            if pid == os.getpid():
                return True
            pid = after.get(pid, (0,))[0]
        return False
    used = sorted(((after[pid][2] - before[pid][2]) / seconds, after[pid][1]) for pid in after
                  if pid in before and not ours(pid))
    used = [(share, name) for share, name in reversed(used) if share >= 0.05][:n]
    return ", ".join("%s %.0f%%" % (name, 100 * share) for share, name in used) or \
        "none above 5 %"


def environ(base_compiledir=None):
    env = dict(setup.user_environ())
    if base_compiledir:
        key = "THEANO_FLAGS"
        saved = os.environ.get(key)
        try:  # flags.py is the one writer of THEANO_FLAGS: let it build the value
            if env.get(key) is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = env[key]
            flags.set_theano_flag("base_compiledir", base_compiledir)
            env[key] = os.environ[key]
        finally:
            if saved is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = saved
    return env


def run_search(args, dataset, out, workers, compiledir="per-worker", base=None):
    """Run the search; returns (wall seconds, lock seconds, [trial seconds])."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, os.path.join(ROOT, "scripts", "search.py"), "mlp",
               "--dataset", dataset, "--out", out, "--n-epochs", str(args.epochs),
               "--checkpoint-every", "0", "--workers", str(workers),
               "--compiledir", compiledir] + GRID
    start = time.perf_counter()
    done = subprocess.run(command, env=environ(base), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit("the search failed (exit %d): %s" % (done.returncode, done.stderr[-2000:]))
    with open(os.path.join(out, search.RESULTS)) as handle:
        trials = json.load(handle)["trials"]
    return (wall, sum(t.get("lock_wait", 0.0) for t in trials),
            [t.get("trial_seconds", 0.0) for t in trials])


def one_process(args, dataset, out, base):
    """Wall seconds of the first grid point's trial as ``python scripts/mlp.py``."""
    shutil.rmtree(out, ignore_errors=True)
    env = environ(base)
    env.update(search.ONE_BLAS_THREAD)
    command = [sys.executable, os.path.join(ROOT, "scripts", "mlp.py"), "--dataset", dataset,
               "--out", out, "--n-epochs", str(args.epochs), "--checkpoint-every", "0",
               "--learning-rate", "0.01", "--L2-reg", "1e-05", "--quiet"]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per trial (default 4)")
    parser.add_argument("--train", type=int, default=10000,
                        help="training examples (default 10000: 500 minibatches an epoch)")
    parser.add_argument("--work", default=None, help="folder for the searches (default: a "
                                                     "temporary one, removed at the end)")
    parser.add_argument("--skip-cold", action="store_true", help="leave out the cold runs")
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="dltut-search-bench-")
    os.makedirs(work, exist_ok=True)
    dataset = os.path.join(work, "data.pkl.gz")
    write_dataset(dataset, args.train)
    print("search bench: mlp 784-500-10, batch 20, %d training examples, %d epochs a trial, "
          "6 trials (%s); %d CPUs" % (args.train, args.epochs, " ".join(GRID[1::2]),
                                      os.cpu_count()))
    print("at the start: load average %.2f %.2f %.2f; busiest processes: %s"
          % (os.getloadavg() + (busiest(),)), flush=True)
    rows = []

    def report(label, result):
        wall, lock, trials = result
        rows.append((label, wall, lock))
        print("  %-58s %7.1f s   lock %6.1f s   trials %s s" % (
            label, wall, lock, " ".join("%.1f" % t for t in trials)), flush=True)
        return result

    print("runs (wall time of the search, time acquiring the compile lock summed over trials, "
          "each trial's time in its worker):")
    run_search(args, dataset, os.path.join(work, "warm-up"), 2)
    one = report("warm, per-worker folders, 1 worker", run_search(
        args, dataset, os.path.join(work, "warm-1"), 1))
    two = report("warm, per-worker folders, 2 workers", run_search(
        args, dataset, os.path.join(work, "warm-2"), 2))
    again = report("warm, per-worker folders, 1 worker (again)", run_search(
        args, dataset, os.path.join(work, "warm-1b"), 1))
    speedup = statistics.mean([one[0], again[0]]) / two[0]
    cold = {}
    if not args.skip_cold:
        for policy in ("shared", "per-worker"):
            for workers in (1, 2):
                base = os.path.join(work, "theano-%s-%d" % (policy, workers))
                shutil.rmtree(base, ignore_errors=True)
                cold[policy, workers] = report(
                    "cold, %s folder%s, %d worker%s" % (policy, "s" if policy == "per-worker"
                                                        else "", workers,
                                                        "s" if workers > 1 else ""),
                    run_search(args, dataset, os.path.join(work, "cold-%s-%d" % (
                        policy, workers)), workers, policy, base))
                shutil.rmtree(base, ignore_errors=True)
    usual = report("shared, Theano's usual folder (%s), 2 workers"
                   % search.default_base_compiledir().replace(os.path.expanduser("~"), "~"),
                   run_search(args, dataset, os.path.join(work, "usual-2"), 2, "shared"))
    slot = os.path.join(search.default_base_compiledir(), "dltut-worker-0")
    single = [one_process(args, dataset, os.path.join(work, "single"), slot) for _ in range(2)]
    in_worker = sorted(one[2])[len(one[2]) // 2]
    print("at the end: load average %.2f %.2f %.2f; busiest processes: %s"
          % (os.getloadavg() + (busiest(),)))
    print()
    print("speed-up of 2 workers over 1 (warm, per-worker folders): %.2fx (%.1f s and %.1f s "
          "against %.1f s)" % (speedup, one[0], again[0], two[0]))
    if cold:
        print("cold: shared folder %.2fx, per-worker folders %.2fx; time acquiring the lock "
              "with 2 workers: shared %.1f s, per-worker %.1f s"
              % (cold["shared", 1][0] / cold["shared", 2][0],
                 cold["per-worker", 1][0] / cold["per-worker", 2][0],
                 cold["shared", 2][1], cold["per-worker", 2][1]))
    print("Theano's usual folder, 2 workers: %.1f s acquiring the lock (%.0f %% of the "
          "trials' time)" % (usual[1], 100 * usual[1] / max(sum(usual[2]), 1e-9)))
    print("a trial in a new process (scripts/mlp.py): %.1f s, %.1f s; in a warm worker "
          "(median of the 1-worker run): %.1f s" % (single[0], single[1], in_worker))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
