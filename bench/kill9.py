#!/usr/bin/env python
"""kill -9 at random moments: does every run folder still resume to the uninterrupted run?

    python bench/kill9.py                  # 20 trials (a few minutes on 2 cores)
    python bench/kill9.py --trials 40 --seed 3

A small MLP (momentum and a decaying learning rate, so that the optimiser and the schedule
must come back too) trains on a synthetic dataset with a checkpoint every 0.1 s.  First one
uninterrupted run is the reference.  Then each trial starts the same run and sends it
SIGKILL at a random moment -- while Python and Theano start, inside epoch 1, later on --
and restarts it the way a user would (``--resume RUN`` when the folder holds a run,
otherwise the same ``--out`` again), killing the restarted process too at random (a kill
during a resume), up to four kills a trial.  When the run finally ends, its checkpoint
(last parameters, velocities, best parameters), best model and history must equal the
reference's bit for bit.

Prints one line a trial and a tally; exits 1 if any trial ended elsewhere.
"""
import argparse
import gzip
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import dltut  # noqa: E402  (Theano set-up before numpy loads)
from dltut.runs import rundir  # noqa: E402
from dltut.runs.checkpoint import load_arrays  # noqa: E402
from dltut.runtime import setup  # noqa: E402

import numpy  # noqa: E402

#: The run every trial makes: 8,000 minibatches an epoch, 5 epochs, a checkpoint every 0.1 s.
FLAGS = ["--batch-size", "1", "--n-hidden", "32", "--learning-rate", "0.02", "--momentum", "0.5",
         "--schedule", "inverse", "--decay", "0.5", "--n-epochs", "5", "--patience", "1000000000",
         "--validation-frequency", "2000", "--checkpoint-every", "0.1", "--quiet"]
N_EPOCHS = int(FLAGS[FLAGS.index("--n-epochs") + 1])
MAX_KILLS = 4


def write_dataset(path):
    from dltut.data import synthetic_dataset
    splits = synthetic_dataset(numpy.random.RandomState(0), 8000, 500, 500, noise=0.5)
    with gzip.open(path, "wb") as handle:
        pickle.dump(splits, handle, protocol=2)


def command(dataset, folder, resume):
    where = ["--resume", folder] if resume else ["--out", folder]
    return [sys.executable, os.path.join(ROOT, "scripts", "mlp.py"), "--dataset", dataset] + \
        where + FLAGS


def stage(folder):
    """Where a killed run had got to, from what its folder holds: ``(kind, words)``, kind
    one of "start-up", "epoch 1", "later"."""
    run = rundir.RunDir(folder)
    if not run.has(rundir.CONFIG):
        return "start-up", "during start-up (nothing written yet)"
    if not run.has(rundir.CHECKPOINT):
        return "epoch 1", "in epoch 1, before its first checkpoint"
    state, _ = run.load_checkpoint()
    epoch, index = state["state"]["epoch"], state["state"]["minibatch_index"]
    if not index and epoch == N_EPOCHS:
        return "later", "after the last epoch (while finishing)"
    epoch = epoch if index else epoch + 1
    return ("epoch 1" if epoch == 1 else "later"), "in epoch %d" % epoch


def same_run(a, b):
    """'' if run folders a and b hold the same end state, else what differs."""
    for name in (rundir.CHECKPOINT, rundir.BEST_MODEL):
        arrays_a, _ = load_arrays(os.path.join(a, name))
        arrays_b, _ = load_arrays(os.path.join(b, name))
        if sorted(arrays_a) != sorted(arrays_b):
            return "%s holds other arrays" % name
        for key in arrays_a:
            if key != "meta" and not numpy.array_equal(arrays_a[key], arrays_b[key]):
                return "%s: %s differs" % (name, key)
    drop = lambda records: [{k: v for k, v in r.items() if k != "elapsed"}  # noqa: E731
                            for r in records]
    if drop(rundir.RunDir(a).read_history()) != drop(rundir.RunDir(b).read_history()):
        return "history.jsonl differs"
    return ""


def trial(rng, dataset, folder, env, durations, log):
    """One run killed one to MAX_KILLS times, then finished; returns (kills, stages,
    outcome).  A run that ends before its first kill is started afresh (up to five times)."""
    for _ in range(5):
        shutil.rmtree(folder, ignore_errors=True)
        outcome = attempts(rng, dataset, folder, env, durations, log)
        if outcome[0]:
            return outcome
    return outcome


def attempts(rng, dataset, folder, env, durations, log):
    stages = []
    for attempt in range(MAX_KILLS + 1):
        resume = os.path.exists(os.path.join(folder, rundir.CONFIG))
        process = subprocess.Popen(command(dataset, folder, resume), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if attempt < MAX_KILLS and (attempt == 0 or rng.random() < 0.6):
            # during start-up, inside epoch 1, or anywhere in training, a third each; the
            # last two are timed from when training starts (config.json written), so that
            # a slow start-up on a busy machine does not move them
            where = rng.choice(["start-up", "epoch 1", "training"])
            if where == "start-up":
                moment = rng.uniform(0, durations["start"])
            else:
                wait_for_training(process, folder, resume)
                moment = rng.uniform(0, 0.9 * (durations["epoch1" if where == "epoch 1"
                                                else "total"] - durations["start"]))
            try:
                process.wait(timeout=moment)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
        process.wait()
        err = process.stderr.read().strip()
        if process.returncode == -signal.SIGKILL:
            kind, words = stage(folder)
            stages.append((kind, resume))
            log("    kill -9 #%d %s%s" % (len(stages), "of a resumed run, " if resume else "",
                                         words))
            continue
        if process.returncode != 0:
            return len(stages), stages, "exit %d: %s" % (process.returncode, err)
        if not stages:
            log("    (ended before its kill; starting the trial again)")
        return len(stages), stages, ""
    return len(stages), stages, "still not finished"


def wait_for_training(process, folder, resume):
    """Until the process has started training (or ended): a new run writes config.json when
    training starts; a resumed one rewrites it then."""
    path = os.path.join(folder, rundir.CONFIG)
    before = os.stat(path).st_mtime_ns if resume else None
    while process.poll() is None:
        try:
            if os.stat(path).st_mtime_ns != before:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.005)


def measure(dataset, folder, env):
    """Run the reference; return when (seconds from launch) config.json appeared, epoch 1
    ended and the run ended."""
    started = time.perf_counter()
    process = subprocess.Popen(command(dataset, folder, False), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marks = {}
    while process.poll() is None:
        now = time.perf_counter() - started
        if "start" not in marks and os.path.exists(os.path.join(folder, rundir.CONFIG)):
            marks["start"] = now
        if "epoch1" not in marks and os.path.exists(os.path.join(folder, rundir.CHECKPOINT)):
            try:
                state, _ = rundir.RunDir(folder).load_checkpoint()
                if state["state"]["epoch"] >= 2 or not state["state"]["minibatch_index"]:
                    marks["epoch1"] = now
            except Exception:  # noqa: BLE001  (being replaced right now: look again)
                pass
        time.sleep(0.01)
    if process.returncode != 0:
        sys.exit("the reference run failed: %s" % process.stderr.read())
    marks["total"] = time.perf_counter() - started
    marks.setdefault("start", marks["total"] / 3)
    marks.setdefault("epoch1", marks["start"] + (marks["total"] - marks["start"]) / 4)
    return marks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="runs to kill (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="dltut-kill9-")
    os.makedirs(work, exist_ok=True)
    dataset = os.path.join(work, "data.pkl.gz")
    write_dataset(dataset)
    env = setup.user_environ()
    reference = os.path.join(work, "reference")
    for _ in range(2):  # the first compiles what Theano's cache lacks; the second is timed
        shutil.rmtree(reference, ignore_errors=True)
        durations = measure(dataset, reference, env)
    print("reference run: config.json after %.1f s, epoch 1 done after %.1f s, end after %.1f s"
          % (durations["start"], durations["epoch1"], durations["total"]), flush=True)

    rng = random.Random(args.seed)
    good, kills, resumes = 0, 0, 0
    all_stages = []
    for number in range(1, args.trials + 1):
        folder = os.path.join(work, "trial-%02d" % number)
        shutil.rmtree(folder, ignore_errors=True)
        lines = []
        n, stages, failure = trial(rng, dataset, folder, env, durations, lines.append)
        difference = failure or same_run(folder, reference)
        good += not difference
        kills += n
        resumes += sum(resumed for _, resumed in stages)
        all_stages += stages
        print("trial %2d: %d kill(s); %s" % (number, n, difference or "resumed to the same run"),
              flush=True)
        for line in lines:
            print(line, flush=True)
        if not difference and not args.work:
            shutil.rmtree(folder)
    epoch1 = sum(kind == "epoch 1" for kind, _ in all_stages)
    startup = sum(kind == "start-up" for kind, _ in all_stages)
    print("%d of %d trials resumed to the uninterrupted run's parameters (%d kills: %d during "
          "start-up, %d in epoch 1, %d of a resumed run)"
          % (good, args.trials, kills, startup, epoch1, resumes))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if good == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
