#!/usr/bin/env python
"""Reproduce the tutorials' published results and write RESULTS.md.

    python scripts/reproduce.py                       # every experiment, to its early-stopping end
    python scripts/reproduce.py --only logistic_sgd   # one of them
    python scripts/reproduce.py --report-only         # rewrite RESULTS.md from the finished runs

Each experiment runs the unchanged script with the tutorial's defaults in its own folder
(``runs/reproduce/<script>-<dataset>/``).  It is resumable: a run that was stopped (Ctrl-C,
a closed session) continues from its checkpoint the next time, and a finished run is not
run again.  RESULTS.md gets, for each model, the published and the measured numbers, the
time taken, the machine, and the exact command; the learning curves go to results/.
"""
import argparse
import os
import platform
import shutil
import subprocess
import sys
import time

import dltut  # noqa: F401  (Theano set-up before numpy loads)
from dltut import _setup, rundir
from dltut.experiment import OneLineParser, report_failures

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# What the tutorials (deeplearning.net, Theano 0.x) published for their default runs.
PUBLISHED = {
    ("logistic_sgd", "mnist"): dict(
        figures="7.500000 % / 7.489583 %, best at epoch 73, 74 epochs run",
        errors=(7.500000, 7.489583), digits=6, iteration=6059,
        note="logistic_sgd.py: 'best validation score of 7.500000 % ... test performance 7.489583 %', "
             "the code ran for 74 epochs"),
    ("mlp", "mnist"): dict(
        figures="1.69 % / 1.65 %, best at iteration 2,070,000 (epoch 828)",
        errors=(1.69, 1.65), digits=2, iteration=2070000,
        note="mlp.py: 'best validation score of 1.690000 % obtained at iteration 2070000, "
             "with test performance 1.650000 %'"),
    ("convolutional_mlp", "mnist"): dict(
        figures="0.91 % / 0.92 %, best at iteration 17,800",
        errors=(0.91, 0.92), digits=2, iteration=17800,
        note="convolutional_mlp.py on a Core i7-2600K, floatX=float32: 'Best validation score of "
             "0.910000 % obtained at iteration 17800, with test performance 0.920000 %'",
        # other runs of the same script the tutorial and its users published: the spread that
        # hardware rounding alone produces (validation, test, best iteration, hardware)
        spread=[(0.91, 0.93, 15500, "GeForce GTX 285 (tutorial)"),
                (0.91, 0.93, 16400, "GeForce GTX 480 (tutorial)"),
                (0.92, 0.96, 10900, "CSCS Piz Daint GPU, Theano 0.8.2 (its user guide)")]),
    ("mlp", "fashion-mnist"): dict(
        figures="— / 11.7 % (accuracy 0.883)",
        note="the Fashion-MNIST README's table of submitted benchmarks (not re-tested by its "
             "maintainers): 'MLP 256-128-100', test accuracy 0.8833, trained on all 60,000 "
             "training images (a different, three-hidden-layer MLP: the nearest published "
             "figure; the tutorial's script trains on 50,000 and keeps 10,000 for validation)"),
    ("convolutional_mlp", "fashion-mnist"): dict(
        figures="— / 8.4–12.4 % (accuracy 0.876–0.916)",
        note="the Fashion-MNIST README's table of submitted benchmarks (not re-tested by its "
             "maintainers): '2 Conv+pooling', no preprocessing, test accuracy 0.876 and 0.916 "
             "(two submissions; error 12.4 % and 8.4 %), trained on all 60,000 training images"),
    ("DBN", "mnist"): dict(
        figures="1.27 % / 1.34 % after 46 fine-tuning epochs",
        errors=(1.27, 1.34), digits=2, iteration=None,
        note="DBN.txt: 'a minimal validation error of 1.27 with corresponding test error of "
             "1.34 after 46 supervised epochs' (100 pre-training epochs per layer took 615 "
             "minutes, fine-tuning 101, on a 4-core Xeon X5560 with MKL)"),
    ("rbm", "mnist"): dict(
        figures="cost per epoch -90.65, -81.24, -74.91, -73.02, -68.41, ..., -62.76 (15 epochs)",
        costs=[-90.6507246003, -81.235857373, -74.9120966945, -73.0213216101, -68.4098570497,
               -63.2693021647, -65.99578971, -68.1236650015, -68.3207365087, -64.2949797113,
               -61.5194867893, -61.6539369402, -63.5465278086, -63.3787093527, -62.755739271],
        note="rbm.txt: the output of rbm.py (PCD-15, learning rate 0.1, batch 20, 15 epochs), "
             "'Training took 122.466000 minutes' on a Xeon E5430 with single-threaded "
             "GotoBLAS"),
}
# What the unmodified tutorial scripts print when run on this project's machine (Theano 1.0.5
# through dltut.compat, float32, OpenBLAS): the reference a dltut run must equal.
ORIGINAL_HERE = {
    ("rbm", "mnist"): dict(
        source="lisa-lab/DeepLearningTutorials' code/rbm.py (commit 11c4651) run on this "
               "machine in float32 with one OpenBLAS thread and training_epochs=3",
        costs={0: "-90.023155", 1: "-79.24323", 2: "-74.10515"}),
    ("DBN", "mnist"): dict(
        source="lisa-lab/DeepLearningTutorials' code/DBN.py (commit 11c4651) run on this "
               "machine in float32 with one OpenBLAS thread, pretraining_epochs=1 and "
               "training_epochs=1",
        pretraining={(0, 0): "-98.53650726013184", (1, 0): "-330.2866812225342",
                     (2, 0): "-74.45195023880005"},
        points={1: (4.75, 5.72)}),
}
# Per-epoch (validation %, test % of the best model) printed by public runs of the unmodified
# tutorial scripts: a measured curve is checked against them up to where the two part.
PUBLISHED_CURVES = {
    ("mlp", "mnist"): dict(
        source="the console output of the tutorial's mlp.py published by its users (epochs 1-10 "
               "in one log; epochs 1-3, identical, in a second log run on a GeForce GTX 1060)",
        points={1: (9.62, 10.09), 2: (8.61, 8.74), 3: (8.00, 8.16), 4: (7.60, 7.79),
                5: (7.30, 7.59), 6: (7.02, 7.20), 7: (6.68, 6.99), 8: (6.26, 6.73),
                9: (5.97, 6.51), 10: (5.74, 6.19)}),
    ("convolutional_mlp", "mnist"): dict(
        source="the console output of the tutorial's convolutional_mlp.py in CSCS Piz Daint's "
               "Theano 0.8.2 user guide (GPU, floatX=float32; its best: 0.92 % / 0.96 % at "
               "iteration 10900)",
        points={1: (9.23, 9.54), 2: (6.17, 6.48), 3: (4.64, 4.84), 200: (0.94, None)}),
}
ORDER = [("logistic_sgd", "mnist"), ("mlp", "mnist"), ("convolutional_mlp", "mnist"),
         ("mlp", "fashion-mnist"), ("convolutional_mlp", "fashion-mnist"), ("rbm", "mnist"),
         ("DBN", "mnist")]
#: Runs without a validation error: reported in a table of their own.
UNSUPERVISED = {("rbm", "mnist")}
#: Extra flags per script (the supervised scripts keep parameter snapshots for plot_run.py).
EXTRA_FLAGS = {"logistic_sgd": ["--save-every", "10"], "mlp": ["--save-every", "10"],
               "convolutional_mlp": ["--save-every", "10"], "DBN": ["--save-every", "10"]}


def run_dir(runs, script, dataset):
    return os.path.join(runs, "%s-%s" % (script, dataset))


def load_json(folder, name):
    """A JSON file of a run folder, or None when it is absent or unreadable."""
    try:
        value = rundir.RunDir(folder).read_json(name)
    except rundir.RunDirError:
        return None
    return value if isinstance(value, dict) else None


def status(folder):
    """"done", "partial" (a run to resume) or "new"."""
    summary = load_json(folder, rundir.SUMMARY)
    if summary and summary.get("stopped_by") not in (None, "interrupted"):
        return "done"
    if os.path.exists(os.path.join(folder, rundir.CONFIG)):
        return "partial"
    return "new"


def command_for(script, dataset, folder, resume):
    cmd = [sys.executable, os.path.join("scripts", script + ".py"), "--dataset", dataset]
    cmd += EXTRA_FLAGS.get(script, [])
    folder = os.path.relpath(folder, ROOT)
    cmd += ["--resume", folder] if resume else ["--out", folder]
    return cmd


def train(script, dataset, folder, floatx):
    state = status(folder)
    if state == "done":
        print("%s on %s: already finished (%s)" % (script, dataset, folder))
        return 0
    os.makedirs(folder, exist_ok=True)
    cmd = command_for(script, dataset, folder, resume=(state == "partial"))
    env = _setup.user_environ()  # the child makes (and reports) dltut's choices itself
    env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS"), "floatX=" + floatx]))
    print("%s on %s: %s %s" % (script, dataset, "resuming" if state == "partial" else "starting",
                               " ".join(cmd[1:])), flush=True)
    with open(os.path.join(folder, rundir.TRAIN_LOG), "a") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            log.write(line)
            log.flush()
            if "error" in line or "Optimization" in line or line.startswith(
                    ("Training epoch", "Pre-training layer")):
                print("  " + line.rstrip(), flush=True)
        return process.wait()


def machine():
    """(facts from `python -m dltut.info`, a one-line description of the host)."""
    from dltut import info
    facts = info.report(bench=False)
    host = "%s, %s cores, Python %s, %s" % (facts.get("cpu_model") or "unknown CPU",
                                            facts.get("cpu_count"), platform.python_version(),
                                            platform.platform())
    return facts, host


def fmt(value, digits=6):
    return "—" if value is None else ("%.*f %%" % (digits, value))


def plot(folder, name, where):
    """learning_curves.png of a run, copied to <where>/results/<name>.png; returns the path
    relative to ``where`` (the report's folder)."""
    subprocess.run([sys.executable, os.path.join("scripts", "plot_run.py"), folder], cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    source = os.path.join(folder, rundir.CURVES)
    if not os.path.exists(source):
        return None
    os.makedirs(os.path.join(where, "results"), exist_ok=True)
    target = os.path.join("results", name + ".png")
    shutil.copyfile(source, os.path.join(where, target))
    filters = os.path.join(folder, rundir.FILTERS)
    if os.path.exists(filters):
        shutil.copyfile(filters, os.path.join(where, "results", name + "-filters.png"))
    return target


def progress(folder):
    """Where an unfinished run stands, from its checkpoint."""
    if status(folder) != "partial":
        return "not run yet"
    if not os.path.exists(os.path.join(folder, rundir.CHECKPOINT)):
        if os.path.exists(os.path.join(folder, rundir.PRETRAINING_CHECKPOINT)):
            return pretraining_progress(folder)
        return "started, no checkpoint yet"
    from dltut.checkpoint import CheckpointError
    try:
        state, meta = rundir.RunDir(folder).load_checkpoint()
        state = state["state"]
        state["epoch"], meta["config"]["n_epochs"]  # noqa: B018  (present?)
    except (CheckpointError, KeyError, TypeError):
        return "in progress (checkpoint unreadable)"
    return ("in progress, resumable: %d of at most %d epochs done; best so far %s / %s at "
            "iteration %s" % (state["epoch"], meta["config"]["n_epochs"],
                              fmt(as_percent(state.get("best_validation_loss")), 2),
                              fmt(as_percent(state.get("test_score")), 2), state.get("best_iteration")))


def pretraining_progress(folder):
    """Where a layer-wise pre-training stands, from its checkpoint and records."""
    from dltut.checkpoint import CheckpointError
    try:
        state, meta = rundir.RunDir(folder).load_checkpoint(rundir.PRETRAINING_CHECKPOINT)
        state, config = state["state"], meta["config"]
        layers, n_epochs = config["layers"], config["n_epochs"]
    except (CheckpointError, KeyError, TypeError):
        return "pre-training in progress (checkpoint unreadable)"
    if state["layer"] >= len(layers):
        return "pre-training done (%d layers x %d epochs), fine-tuning not started" % (
            len(layers), n_epochs)
    done = state["layer"] * n_epochs + state["epoch"]
    return ("pre-training in progress, resumable: %s of %d, epoch %d of %d done (%d of %d "
            "layer-epochs, %.0f %%)" % (layers[state["layer"]], len(layers), state["epoch"],
                                        n_epochs, done, len(layers) * n_epochs,
                                        100.0 * done / (len(layers) * n_epochs)))


def as_percent(fraction):
    """A fraction as a percentage; None for an unknown (null or infinite) one."""
    if not isinstance(fraction, (int, float)) or fraction != fraction or abs(fraction) == float("inf"):
        return None
    return fraction * 100


def compare(published, summary, has_curve=False):
    """How a finished run's numbers stand against the published ones, in a few sentences."""
    measured = (summary["best_validation_error"] * 100, summary["test_error"] * 100)
    if "errors" not in published:
        return ("validation %.2f %%, test %.2f %% (test accuracy %.3f) after %d epochs (%s)."
                % (measured + (1 - measured[1] / 100, summary["epochs"], summary["stopped_by"])))
    digits = published["digits"]
    rounded = [round(value, digits) for value in measured]
    same = rounded == [round(value, digits) for value in published["errors"]]
    text = ("validation %.*f %%, test %.*f %%: %s the published figures to the %d decimals they were "
            "printed with" % (digits, measured[0], digits, measured[1],
                              "equal to" if same else "different from", digits))
    if published["iteration"] is None:
        return text + "; the best model came at epoch %s (%s)." % (summary["best_epoch"],
                                                                   published["figures"])
    if summary["best_iteration"] == published["iteration"]:
        return text + ", at the same iteration (%d)." % published["iteration"]
    text += "; the best model came at iteration %s instead of %d" % (summary["best_iteration"],
                                                                      published["iteration"])
    if not same:
        text += " (%s)" % ", ".join(
            "%s %+d of %d examples" % (name, examples(m - p, n), n) for name, m, p, n in (
                ("validation", rounded[0], published["errors"][0], summary["n_valid"]),
                ("test", rounded[1], published["errors"][1], summary["n_test"])))
    text += "."
    runs = [tuple(published["errors"]) + (published["iteration"],)]
    runs += [run[:3] for run in published.get("spread", [])]
    if len(runs) > 1:
        low, high = [list(map(min, zip(*runs))), list(map(max, zip(*runs)))]
        inside = all(lo <= value <= hi for value, lo, hi in zip(rounded, low, high))
        text += (" The published runs of this script on different hardware (%s) spread over "
                 "validation %.2f-%.2f %%, test %.2f-%.2f %%, best iteration %d-%d; the measured "
                 "run is %s that spread." % (
                     "; ".join(run[3] for run in published["spread"]), low[0], high[0], low[1],
                     high[1], low[2], high[2], "inside" if inside else "outside"))
    return text + (" Float rounding (BLAS, summation order, float32 vs the original set-up) moves "
                   "a long run's curve; %s." % ("the curve check below shows where the measured "
                                                "and the published curves part" if has_curve
                                                else "see the learning curve"))


def examples(percent, n):
    """A difference in per cent of n examples, as a whole number of examples."""
    return int(round(percent * n / 100.0))


def load_records(folder):
    """The validation records of a run's history.jsonl, in order ([] if unreadable)."""
    try:
        return rundir.RunDir(folder).read_history()
    except rundir.RunDirError:
        return []


def load_history(folder):
    """{epoch: the last validation record of that epoch} from a run's history.jsonl."""
    return {record["epoch"]: record for record in load_records(folder) if "epoch" in record}


def patience_story(folder, summary, config):
    """Why a run stopped by patience stopped where it did, replayed from its history with the
    trainer's own rule (dltut.train.Patience); "" for other runs."""
    settings = config.get("train_config", {})
    records = load_records(folder)
    if summary.get("stopped_by") != "patience" or not records or "patience" not in settings:
        return ""
    from dltut.train import Patience
    rule = Patience(settings["patience"], settings["patience_increase"],
                    settings["improvement_threshold"])
    raised = None
    for record in records:
        before = rule.patience
        rule.update(record["iteration"] - 1, record["validation_error"])  # the tutorial's iter
        if rule.patience != before:
            raised = record
    text = (" It stopped by the tutorial's patience rule: patience grows only when a new best "
            "beats the previous one by more than %.3g %% (improvement_threshold %s)" % (
                (1 - settings["improvement_threshold"]) * 100, settings["improvement_threshold"]))
    if raised is None:
        return text + ("; none came late enough to raise patience above its initial %d "
                       "minibatches." % settings["patience"])
    return text + ("; the last such improvement came at iteration %d (epoch %d) and set patience "
                   "to %d minibatches, used up in epoch %d; the later new bests were smaller "
                   "steps." % (raised["iteration"], raised["epoch"], rule.patience,
                               summary["epochs"]))


def curve_check(script, dataset, folder, n_valid, n_test):
    """Markdown comparing a run's per-epoch errors with a published log of the same script."""
    curve = PUBLISHED_CURVES.get((script, dataset))
    history = load_history(folder)
    if not curve or not history:
        return []
    table = ["| epoch | published validation / test | measured validation / test | "
             "differs by (examples) |", "| --- | --- | --- | --- |"]
    compared = differing = worst = 0
    first_difference = None
    for epoch, published in sorted(curve["points"].items()):
        record = history.get(epoch)
        if record is None:
            continue
        measured = (record["validation_error"] * 100,
                    None if record.get("test_error") is None else record["test_error"] * 100)
        gaps = [examples(m - p, n) for m, p, n in zip(measured, published, (n_valid, n_test))
                if m is not None and p is not None]
        compared += 1
        if any(gaps):
            differing += 1
            worst = max(worst, max(abs(gap) for gap in gaps))
            first_difference = first_difference or epoch
        table.append("| %d | %s / %s | %s / %s | %s |" % (
            epoch, fmt(published[0], 2), fmt(published[1], 2), fmt(measured[0], 2),
            fmt(measured[1], 2), " / ".join("%+d" % gap for gap in gaps)))
    if not compared:
        return []
    if differing:
        verdict = ("%d of the %d published epochs differ, by at most %d example%s; the first "
                   "difference is at epoch %d" % (differing, compared, worst,
                                                  "" if worst == 1 else "s", first_difference))
    else:
        verdict = "all %d published epochs are equal to the printed digits" % compared
    return ["Curve check against %s: %s." % (curve["source"], verdict), ""] + table + [""]


def original_check(script, dataset, folder):
    """Markdown comparing what a run printed with what the unmodified tutorial script printed
    on this machine (:data:`ORIGINAL_HERE`), for the epochs both have; [] if none."""
    original = ORIGINAL_HERE.get((script, dataset))
    if not original:
        return []
    rows = []
    if "costs" in original:
        measured = {r["epoch"] - 1: r.get("cost") for r in load_records_named(
            folder, rundir.PRETRAINING_HISTORY)}
        for epoch, text in sorted(original["costs"].items()):
            if epoch in measured:
                rows.append(("training epoch %d, cost" % epoch, text, repr(measured[epoch])))
    if "pretraining" in original:
        measured = {(r["layer"], r["epoch"] - 1): r.get("cost") for r in load_records_named(
            folder, rundir.PRETRAINING_HISTORY)}
        for key, text in sorted(original["pretraining"].items()):
            if key in measured:
                rows.append(("pre-training layer %d, epoch %d, cost" % key, text,
                             repr(measured[key])))
    history = load_history(folder)
    for epoch, (valid, test) in sorted(original.get("points", {}).items()):
        if epoch in history:
            record = history[epoch]
            rows.append(("fine-tuning epoch %d, validation / test error" % epoch,
                         "%.6f %% / %.6f %%" % (valid, test), "%.6f %% / %s" % (
                             record["validation_error"] * 100,
                             "—" if record.get("test_error") is None
                             else "%.6f %%" % (record["test_error"] * 100))))
    if not rows:
        return []
    same = sum(1 for _, want, got in rows if float(want.split()[0]) == float(got.split()[0])
               and want.split()[-2:] == got.split()[-2:])
    table = ["Check against %s: %d of %d printed figures equal, to the last digit." % (
        original["source"], same, len(rows)), "",
        "| printed line | original code | dltut |", "| --- | --- | --- |"]
    table += ["| %s | %s | %s |" % row for row in rows]
    return table + [""]


def load_records_named(folder, name):
    try:
        return rundir.RunDir(folder).read_history(name)
    except rundir.RunDirError:
        return []


def copy_figure(folder, name, target, where):
    """A figure of a run folder copied to <where>/results/<target>; its path relative to
    ``where``, or None when the run has not drawn it."""
    source = os.path.join(folder, name)
    if not os.path.exists(source):
        return None
    os.makedirs(os.path.join(where, "results"), exist_ok=True)
    shutil.copyfile(source, os.path.join(where, "results", target))
    return os.path.join("results", target)


def rbm_report(runs, where, floatx):
    """``(table lines, detail lines)`` for the RBM: its per-epoch costs against the
    published ones and the original code's, its samples and filters."""
    script, dataset = "rbm", "mnist"
    folder = run_dir(runs, script, dataset)
    published = PUBLISHED[(script, dataset)]
    records = load_records_named(folder, rundir.PRETRAINING_HISTORY)
    summary = load_json(folder, rundir.SUMMARY)
    config = load_json(folder, rundir.CONFIG) or {}
    table = ["| model | dataset | published cost, epochs 0-4 (last) | measured cost, epochs "
             "0-4 (last) | epochs run | s/epoch | total |", "| --- | --- | --- | --- | --- | --- | --- |"]
    pub = ", ".join("%.2f" % c for c in published["costs"][:5]) + " (%.2f)" % published["costs"][-1]
    done = summary and summary.get("stopped_by") not in (None, "interrupted")
    if not records:
        table.append("| RBM 784-500, PCD-15 | %s | %s | %s | | | |" % (dataset, pub, progress(folder)))
        return table, []
    costs = [r["cost"] for r in records]
    measured = ", ".join("%.2f" % c for c in costs[:5]) + (" (%.2f)" % costs[-1] if len(costs) > 5 else "")
    seconds = [r["elapsed"] for r in records]
    per_epoch = (seconds[-1] / len(seconds)) if seconds else float("nan")
    table.append("| RBM 784-500, PCD-15 | %s | %s | %s | %d%s | %.0f | %.1f min |" % (
        dataset, pub, measured, len(costs), "" if done else " (in progress, resumable)",
        per_epoch, seconds[-1] / 60.0 if seconds else float("nan")))
    details = ["## rbm on mnist", "", "Published: %s." % published["note"], ""]
    rows = ["| epoch | published | dltut |", "| --- | --- | --- |"]
    rows += ["| %d | %.4f | %s |" % (epoch, published["costs"][epoch] if epoch < len(
        published["costs"]) else float("nan"), cost) for epoch, cost in enumerate(costs)]
    details += ["Measured: %d of %d epochs%s; the cost printed each epoch (the pseudo-likelihood "
                "proxy, higher is better):" % (len(costs), config.get("args", {}).get(
                    "training_epochs", 15), "" if done else " so far"), ""] + rows + [""]
    details += original_check(script, dataset, folder)
    details += ["Command: `THEANO_FLAGS=floatX=%s %s`" % (
        floatx, config.get("command", "python scripts/rbm.py --dataset mnist")), ""]
    samples = copy_figure(folder, rundir.SAMPLES_FIGURE, "rbm-mnist-samples.png", where)
    if samples:
        details += ["![samples of the RBM: 20 Gibbs chains, 1000 steps between rows](%s)"
                    % samples, ""]
    filters = [name for name in sorted(os.listdir(folder)) if name.startswith("filters_at_epoch_")] \
        if os.path.isdir(folder) else []
    if filters:
        last = max(filters, key=lambda name: int(name.rsplit("_", 1)[1].split(".")[0]))
        figure = copy_figure(folder, last, "rbm-mnist-filters.png", where)
        epoch = int(last.rsplit("_", 1)[1].split(".")[0])
        details += ["![filters of the RBM (the first 100 hidden units) after epoch %d](%s)"
                    % (epoch, figure), ""]
    return table, details


def report(runs, path, floatx):
    """Write the report to ``path``; figures go to results/ beside it, and results/notes.md
    (hand-written remarks on the runs), when present, is included at the end."""
    where = os.path.dirname(os.path.abspath(path))
    facts, host = machine()
    lines = ["# Reproducing the tutorials' results", "",
             "Produced by `python scripts/reproduce.py` (resumable; `--report-only` rewrites this file "
             "from finished runs). Errors are the tutorials' way of scoring (mean over whole "
             "minibatches), with the all-examples figure beside it.", "",
             "Machine: %s. Theano %s, numpy %s, floatX %s, device %s, blas.ldflags `%s` (%s)." % (
                 host, facts.get("theano"), facts.get("numpy"), floatx, facts.get("device"),
                 facts.get("blas_ldflags"), facts.get("blas_reason")), ""]
    lines += ["| model | dataset | published validation / test | measured validation / test (all examples) | "
              "best at | epochs run, stopped by | s/epoch | total |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    details = []
    for script, dataset in ORDER:
        if (script, dataset) in UNSUPERVISED:
            continue
        folder = run_dir(runs, script, dataset)
        published = PUBLISHED[(script, dataset)]
        summary = load_json(folder, rundir.SUMMARY)
        config = load_json(folder, rundir.CONFIG) or {}
        pub = published["figures"]
        if not summary or summary.get("stopped_by") in (None, "interrupted"):
            lines.append("| %s | %s | %s | %s | | | | |" % (script, dataset, pub, progress(folder)))
            check = original_check(script, dataset, folder)
            if check:
                details += ["## %s on %s (in progress)" % (script, dataset), "",
                            "Published: %s." % published["note"], ""] + check
            continue
        if summary.get("stopped_by") == "diverged":
            lines.append("| %s | %s | %s | diverged: %s | | | | |"
                         % (script, dataset, pub, summary.get("divergence")))
            continue
        lines.append("| %s | %s | %s | %s / %s (%s / %s) | iteration %s, epoch %s | %s, %s | %.2f | %.1f min |" % (
            script, dataset, pub, fmt(summary["best_validation_error"] * 100),
            fmt(summary["test_error"] * 100), fmt(summary["best_validation_error_all"] * 100, 2),
            fmt(summary["test_error_all"] * 100, 2), summary["best_iteration"], summary["best_epoch"],
            summary["epochs"], summary["stopped_by"],
            float("nan") if summary["seconds_per_epoch"] is None else summary["seconds_per_epoch"],
            summary["train_seconds"] / 60.0))
        figure = plot(folder, "%s-%s" % (script, dataset), where)
        curve = curve_check(script, dataset, folder, summary["n_valid"], summary["n_test"])
        details += ["## %s on %s" % (script, dataset), "",
                    "Published: %s." % published["note"], "",
                    "Measured: %s%s" % (compare(published, summary, has_curve=bool(curve)),
                                        patience_story(folder, summary, config)), ""]
        details += curve + original_check(script, dataset, folder)
        details += ["Command: `THEANO_FLAGS=floatX=%s %s`" % (
            floatx, config.get("command", "python scripts/%s.py --dataset %s" % (script, dataset))), ""]
        if figure:
            details += ["![learning curves of %s on %s](%s)" % (script, dataset, figure), ""]
    table, rbm_details = rbm_report(runs, where, floatx)
    lines += ["", "Unsupervised models (no validation error; the printed training cost per "
              "epoch):", ""] + table
    details += rbm_details
    notes = os.path.join(where, "results", "notes.md")
    if os.path.exists(notes):
        with open(notes) as handle:
            details += ["## Notes on these runs", "", handle.read().strip(), ""]
    text = "\n".join(lines + [""] + details) + "\n"
    from dltut.checkpoint import atomic_write
    atomic_write(path, text.encode())
    print("wrote %s" % path)


def reproduce_main(argv):
    parser = OneLineParser(prog="reproduce.py", description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    names = sorted({s for s, _ in ORDER})
    parser.add_argument("--only", nargs="+", choices=names, default=names,
                        help="scripts to run")
    parser.add_argument("--datasets", nargs="+", choices=("mnist", "fashion-mnist"),
                        default=["mnist", "fashion-mnist"], help="datasets to run them on")
    parser.add_argument("--runs", default=os.path.join(ROOT, "runs", "reproduce"),
                        help="folder holding one run folder per experiment")
    parser.add_argument("--results", default=os.path.join(ROOT, "RESULTS.md"),
                        help="the report to write")
    parser.add_argument("--floatX", default="float32", choices=("float32", "float64"),
                        help="Theano floatX of the runs")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report")
    args = parser.parse_args(argv)
    started = time.time()
    if not args.report_only:
        for script, dataset in ORDER:
            if script in args.only and dataset in args.datasets:
                if (script, dataset) == ("logistic_sgd", "fashion-mnist"):
                    continue
                code = train(script, dataset, run_dir(args.runs, script, dataset), args.floatX)
                if code == 130:
                    print("interrupted; run the same command again to resume", file=sys.stderr)
                    return 130
                if code:
                    print("%s on %s failed with exit code %d" % (script, dataset, code), file=sys.stderr)
    report(args.runs, args.results, args.floatX)
    print("done in %.1f min" % ((time.time() - started) / 60))
    return 0


def main(argv=None):
    return report_failures("reproduce.py", reproduce_main, argv)


if __name__ == "__main__":
    sys.exit(main())
