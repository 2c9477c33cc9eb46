#!/usr/bin/env python
"""Reproduce the tutorials' published results and write RESULTS.md.

    python scripts/reproduce.py                       # every experiment, to its early-stopping end
    python scripts/reproduce.py --only logistic_sgd   # one of them
    python scripts/reproduce.py --report-only         # rewrite RESULTS.md from the finished runs

Each experiment runs the unchanged script with the tutorial's defaults in its own folder
(``runs/reproduce/<script>-<dataset>/``): the first three chapters on MNIST and
Fashion-MNIST, then logistic_cg, dA, cA, SdA, rbm and DBN on MNIST, and the RNN-RBM on
Bach's chorales (``jsb``: data/jsb.npz, built from music21's corpus the first time).  It is resumable: a run that was stopped (Ctrl-C,
a closed session) continues from its checkpoint the next time, and a finished run is not
run again.  RESULTS.md gets, for each model, the published and the measured numbers, the
time taken, the machine, and the exact command; the learning curves go to results/.
"""
import os
import platform
import shutil
import subprocess
import sys
import time

import dltut  # noqa: F401  (Theano set-up before numpy loads)
from dltut.cli.common import (DefaultsHelpFormatter, OneLineParser, python_command,
                               report_failures)
from dltut.runs import rundir
from dltut.runtime import setup

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
}
PUBLISHED.update({
    ("logistic_cg", "mnist"): dict(
        figures="— (no published run)",
        note="the logistic-regression page only points to logistic_cg.py as an example of "
             "SciPy's conjugate-gradient solver; it publishes no figures. The reference is the "
             "tutorial's own logistic_cg.py, run on this machine (see the curve check)"),
    ("dA", "mnist"): dict(
        figures="filter images after 15 epochs, 0 % and 30 % corruption",
        images=("filters_corruption_0.png", "filters_corruption_30.png"),
        note="the dA page shows the filters of the first 100 hidden units after the default "
             "run (15 epochs each, 0 % and 30 % corruption): without noise they look like "
             "unstructured noise, with 30 % corruption most are localised stroke and blob "
             "detectors; the page prints no numbers"),
    ("cA", "mnist"): dict(
        figures="— (no published figure)",
        images=("filters_ca.png",),
        note="the contractive autoencoder has no tutorial page; its code saves the filters as "
             "cae_filters.png"),
    ("SdA", "mnist"): dict(
        figures="1.39 % / 1.3 % after 15 pre-training epochs per layer and 36 fine-tuning epochs",
        errors=(1.39, 1.3), digits=2, epochs=36,
        note="the SdA page: 'Pre-training takes 585.01 minutes, with an average of 13 minutes "
             "per epoch. Fine-tuning is completed after 36 epochs in 444.2 minutes ... The final "
             "validation score is 1.39% with a testing score of 1.3%' (Xeon E5430, "
             "single-threaded GotoBLAS)"),
    ("rbm", "mnist"): dict(
        figures="cost per epoch -90.65, -81.24, -74.91, -73.02, -68.41, ..., -62.76 (15 epochs)",
        costs=[-90.6507246003, -81.235857373, -74.9120966945, -73.0213216101, -68.4098570497,
               -63.2693021647, -65.99578971, -68.1236650015, -68.3207365087, -64.2949797113,
               -61.5194867893, -61.6539369402, -63.5465278086, -63.3787093527, -62.755739271],
        images=("filters_rbm.png", "samples.png"),
        note="the RBM page prints rbm.py's output (PCD-15, learning rate 0.1, batch 20, 15 "
             "epochs; 'Training took 122.466000 minutes' on a Xeon E5430 with single-threaded "
             "GotoBLAS) and shows the filters after 15 epochs and the samples: 20 chains, 1000 "
             "Gibbs steps between rows"),
    ("DBN", "mnist"): dict(
        figures="1.27 % / 1.34 % after 100 pre-training epochs per layer and 46 fine-tuning "
                "epochs",
        errors=(1.27, 1.34), digits=2, epochs=46,
        note="the DBN page: 'a minimal validation error of 1.27 with corresponding test error "
             "of 1.34 after 46 supervised epochs'; pre-training took 615 minutes and "
             "fine-tuning 101 on a 4-core Xeon X5560 with MKL"),
    ("rnnrbm", "jsb"): dict(
        figures="— (no published run; the tutorial trains on the Nottingham tunes)",
        note="the RNN-RBM page publishes no numbers for its run of rnnrbm.py (the Nottingham "
             "folk tunes, 200 epochs, two generated pieces written as MIDI and piano-roll "
             "figures); the paper (Boulanger-Lewandowski et al. 2012) reports log-likelihoods "
             "on its own split of the JSB Chorales, which the monitor printed here is not"),
})
#: What the tutorial's own code (lisa-lab/DeepLearningTutorials) printed when run on this
#: machine in float32 (OPENBLAS_NUM_THREADS=1): a check of the later chapters' runs, which
#: have no published logs.  ``points`` map (layer name, or None for a fine-tuning or CG
#: record; epoch, 1-based; record key) to the printed text; ``fmt`` says how the run's value
#: is printed for the comparison ("repr": all digits, "%f", or "percent": value * 100 as
#: "%f").  dA.py and logistic_cg.py ran unchanged; cA.py with its Python 2 division restored
#: and its print fixed to the epoch means (see docs/guide/reproductions.md); SdA.py with pretraining_epochs=1
#: and training_epochs=1.
_DA_COSTS = {
    "corruption 0%": "63.28916908111572 55.78665654144287 54.76311697235107 54.242053451538084 "
                     "53.88867074279785 53.62035068664551 53.403746051025394 53.22199783172607 "
                     "53.065801152038574 52.929559783935545 52.8094165222168 52.702436849975584 "
                     "52.60631027374268 52.51916951599121 52.439524198913574",
    "corruption 30%": "81.76498562164306 73.443446484375 70.81178844146729 69.31387823028564 "
                      "68.4161998840332 67.74524717254639 67.27084635162353 66.87522452697753 "
                      "66.57894688110352 66.39028673400878 66.13740155944824 65.97426481323242 "
                      "65.80056009979248 65.6756524597168 65.60416354522705"}
_CG_VALIDATION = (
    "29.989583 24.656250 20.833333 16.979167 14.291667 14.239583 13.166667 12.281250 11.739583 "
    "11.531250 10.572917 10.406250 10.166667 10.208333 9.854167 9.718750 9.375000 8.968750 "
    "8.916667 8.760417 8.770833 8.625000 8.541667 8.250000 8.375000 8.395833 8.197917 8.031250 "
    "8.020833 7.968750 7.989583 7.750000 7.697917 7.729167 7.645833 7.677083 7.520833 7.510417 "
    "7.489583 7.500000 7.479167 7.531250 7.427083 7.364583 7.322917 7.510417 7.416667 7.333333 "
    "7.343750 7.375000")
ORIGINAL_CODE_CURVES = {
    ("dA", "mnist"): dict(
        fmt="repr", source="the tutorial's dA.py, run unchanged on this machine",
        points={(layer, epoch, "cost"): value for layer, costs in _DA_COSTS.items()
                for epoch, value in enumerate(costs.split(), start=1)}),
    ("cA", "mnist"): dict(
        fmt="repr", source="the tutorial's cA.py on this machine, its division and print fixed "
                           "(its first 2 epochs)",
        points={("cA", 1, "reconstruction_cost"): "78.22514277038574",
                ("cA", 1, "jacobian_norm"): "13.985196682548523",
                ("cA", 2, "reconstruction_cost"): "67.13540777130127",
                ("cA", 2, "jacobian_norm"): "12.18925283870697"}),
    ("logistic_cg", "mnist"): dict(
        fmt="percent", source="the tutorial's logistic_cg.py, run unchanged on this machine "
                              "(its best: validation 7.322917 %, test 7.447917 %)",
        points={(None, iteration, "validation_error"): value
                for iteration, value in enumerate(_CG_VALIDATION.split(), start=1)}),
    ("SdA", "mnist"): dict(
        fmt="%f", source="the tutorial's SdA.py on this machine with pretraining_epochs=1 "
                         "(a shortened run: the full one takes hours here)",
        points={("layer 0", 1, "cost"): "71.672719"}),
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
ORIGINAL_CODE_CURVES.update({
    ("rbm", "mnist"): dict(
        fmt="repr", blas_core="SkylakeX",
        source="the tutorial's rbm.py, run unchanged with training_epochs=3 on a machine with "
               "OpenBLAS's SkylakeX kernels",
        points={("rbm", 1, "cost"): "-90.023155", ("rbm", 2, "cost"): "-79.24323",
                ("rbm", 3, "cost"): "-74.10515"}),
    ("DBN", "mnist"): [dict(
        fmt="repr", blas_core=core,
        source="the tutorial's DBN.py on a machine with OpenBLAS's %s kernels, with "
               "pretraining_epochs=1 (a shortened run: the full one takes many hours here)" % core,
        points={("layer 0", 1, "cost"): cost})
        for core, cost in (("SkylakeX", "-98.53650726013184"), ("Zen", "-98.53218840637207"),
                           ("Haswell", "-98.53218840637207"))],   # Zen's are Haswell's kernels
})
ORDER = [("logistic_sgd", "mnist"), ("mlp", "mnist"), ("convolutional_mlp", "mnist"),
         ("mlp", "fashion-mnist"), ("convolutional_mlp", "fashion-mnist"),
         ("logistic_cg", "mnist"), ("dA", "mnist"), ("cA", "mnist"), ("SdA", "mnist"),
         ("rbm", "mnist"), ("DBN", "mnist"), ("rnnrbm", "jsb")]
#: The scripts that have no --save-every (nothing to snapshot per epoch).
NO_SNAPSHOTS = ("logistic_cg", "dA", "cA", "SdA", "rbm", "DBN", "rnnrbm")
#: The datasets, and those the scripts take by default (no --dataset flag: the RNN-RBM's
#: data/jsb.npz, which scripts/rnnrbm.py builds when it is missing).
DATASETS = ("mnist", "fashion-mnist", "jsb")
DEFAULT_DATASET = ("jsb",)
#: The RNN-RBM's epochs shown in the report's table of the monitor (and its last).
MONITOR_EPOCHS = (1, 2, 3, 5, 10, 20, 50, 100, 150, 200)
#: The scripts whose runs are pre-training only (no classifier, no error rates).
PRETRAINING_ONLY = ("dA", "cA", "rbm")


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


def interpreter():
    """The Python of the report's commands as a user types it in the repository's root: the
    venv's path relative to the root when the runs' Python is inside it (``.venv/bin/python``,
    which works whether or not the venv is activated, as the docs write it), otherwise what
    :func:`dltut.cli.common.python_command` writes (``python`` for an activated environment,
    else the interpreter's path)."""
    relative = os.path.relpath(os.path.abspath(sys.executable), ROOT)
    return python_command() if relative.startswith("..") else relative


def shown_command(command):
    """A command a run folder recorded (``python scripts/...``) with :func:`interpreter`'s
    Python."""
    words = command.split(" ", 1)
    if words[0] in ("python", "python3"):
        return " ".join([interpreter()] + words[1:])
    return command


def command_for(script, dataset, folder, resume):
    cmd = [sys.executable, os.path.join("scripts", script + ".py")]
    if dataset not in DEFAULT_DATASET:
        cmd += ["--dataset", dataset]
    if script not in NO_SNAPSHOTS:
        cmd += ["--save-every", "10"]
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
    env = setup.user_environ()  # the child makes (and reports) dltut's choices itself
    env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS"), "floatX=" + floatx]))
    print("%s on %s: %s %s" % (script, dataset, "resuming" if state == "partial" else "starting",
                               " ".join(cmd[1:])), flush=True)
    # appended never through a link (the run folders' rule)
    with os.fdopen(rundir.RunDir(folder).open_append(rundir.TRAIN_LOG), "a") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        show_next = False   # the RNN-RBM's monitor, on the line after its "Epoch N/M"
        for line in process.stdout:
            log.write(line)
            log.flush()
            if (show_next or "error" in line or "Optimization" in line or "complete" in line
                    or line.startswith(("wrote ", "resumed")) or every_tenth_epoch(line)):
                print("  " + line.rstrip(), flush=True)
            show_next = every_tenth_epoch(line)
        return process.wait()


def every_tenth_epoch(line):
    """True for the RNN-RBM's ``Epoch N/M`` lines of epochs 1, 10, 20, ..."""
    if not line.startswith("Epoch ") or "/" not in line:
        return False
    number = line[len("Epoch "):].split("/")[0]
    return number.isdigit() and (int(number) == 1 or int(number) % 10 == 0)


def machine():
    """(facts from `python -m dltut.info`, a one-line description of the host)."""
    from dltut.runtime import info
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
    os.makedirs(os.path.join(where, "results"), exist_ok=True)
    for extra in sorted(os.listdir(folder)):  # pre-training: its curves, each layer's filters
        if extra in (rundir.PRETRAINING_CURVES, rundir.SAMPLES_FIGURE) or (
                extra.startswith("filters_") and extra.endswith(".png") and "epoch" not in extra):
            shutil.copyfile(os.path.join(folder, extra), os.path.join(
                where, "results", "%s-%s" % (name, extra.replace("_curves", ""))))
    source = os.path.join(folder, rundir.CURVES)
    if not os.path.exists(source):
        return None
    target = os.path.join("results", name + ".png")
    shutil.copyfile(source, os.path.join(where, target))
    filters = os.path.join(folder, rundir.FILTERS)
    if os.path.exists(filters):
        shutil.copyfile(filters, os.path.join(where, "results", name + "-filters.png"))
    return target


def pretraining_progress(folder):
    """Where an unfinished pre-training stands, from its checkpoint; None when it is done
    (or there is no pre-training checkpoint)."""
    from dltut.runs.checkpoint import CheckpointError
    try:
        state, meta = rundir.RunDir(folder).load_checkpoint(rundir.PRETRAINING_CHECKPOINT)
        st, config = state["state"], meta["config"]
        layers, n_epochs = config["layers"], config["n_epochs"]
        if st["layer"] >= len(layers):
            return None
        return ("in progress, resumable: pre-training %s (%d of %d), %d of %d epochs done%s"
                % (layers[st["layer"]], st["layer"] + 1, len(layers), st["epoch"], n_epochs,
                   ", %d minibatches into the next" % st["minibatch_index"]
                   if st["minibatch_index"] else ""))
    except (CheckpointError, KeyError, TypeError, IndexError):
        return "in progress (pre-training checkpoint unreadable)"


def progress(folder):
    """Where an unfinished run stands, from its checkpoint."""
    if status(folder) != "partial":
        return "not run yet"
    if os.path.exists(os.path.join(folder, rundir.PRETRAINING_CHECKPOINT)):
        pretraining = pretraining_progress(folder)
        if pretraining:
            return pretraining
    if not os.path.exists(os.path.join(folder, rundir.CHECKPOINT)):
        return "started, no checkpoint yet"
    from dltut.runs.checkpoint import CheckpointError
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
    if "iteration" not in published:
        text += ("; the published run ended after %d fine-tuning epochs, this one after %d "
                 "(stopped by %s, best at epoch %s)" % (published["epochs"], summary["epochs"],
                                                       summary["stopped_by"],
                                                       summary["best_epoch"]))
        return text + "."
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
    trainer's own rule (dltut.training.Patience); "" for other runs."""
    settings = config.get("train_config", {})
    records = load_records(folder)
    if summary.get("stopped_by") != "patience" or not records or "patience" not in settings:
        return ""
    from dltut.training import Patience
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


def pretraining_row(script, dataset, published, summary):
    """The table row of a finished pre-training-only run (dA, cA): each layer's last figures."""
    figures = "; ".join("%s: %s" % (layer, ", ".join(
        "%s %.4f" % (key.replace("_", " "), value) for key, value in (last or {}).items()))
        for layer, last in zip(summary["layers"], summary["last"]))
    seconds = summary.get("seconds_per_epoch")
    return "| %s | %s | %s | %s | — | %s, %s | %s | %.1f min |" % (
        script, dataset, published["figures"], figures, " + ".join(map(str, summary["epochs"])),
        summary["stopped_by"], "%.2f" % seconds if isinstance(seconds, (int, float)) else "—",
        summary["train_seconds"] / 60.0)


def published_costs(published, folder):
    """Markdown: a run's per-epoch costs beside the ones the tutorial published (the RBM's);
    [] when it published none."""
    if "costs" not in published:
        return []
    try:
        records = rundir.RunDir(folder).read_history(rundir.PRETRAINING_HISTORY)
    except rundir.RunDirError:
        return []
    measured = {record["epoch"]: record.get("cost") for record in records}
    table = ["The cost printed after each epoch (the tutorial counts epochs from 0), published "
             "and measured:", "", "| epoch | published | dltut |", "| --- | --- | --- |"]
    for epoch, cost in enumerate(published["costs"]):
        value = measured.get(epoch + 1)
        table.append("| %d | %.4f | %s |" % (epoch, cost, "—" if value is None else repr(value)))
    return table + [""]


def original_code_check(script, dataset, folder):
    """Markdown comparing a run's printed figures with what the tutorial's own code printed
    on this machine (ORIGINAL_CODE_CURVES: a curve, or one per OpenBLAS kernel set).

    A curve with a ``blas_core`` is compared only with a run made with the same OpenBLAS
    kernels (its config's ``numerics.blas_core``): other kernels round the float32 products
    otherwise, and the figures part from the first epoch on."""
    curves = ORIGINAL_CODE_CURVES.get((script, dataset))
    if not curves:
        return []
    try:
        run = rundir.RunDir(folder)
        pretraining = run.read_history(rundir.PRETRAINING_HISTORY)
        history = run.read_history()
    except rundir.RunDirError:
        return []
    curves = [curves] if isinstance(curves, dict) else curves
    core = ((load_json(folder, rundir.CONFIG) or {}).get("numerics") or {}).get("blas_core")
    same = [c for c in curves if not c.get("blas_core") or not core or c["blas_core"] == core]
    if not same:
        return ["Not checked against the tutorial's own code: its figures were recorded with "
                "OpenBLAS's %s kernels, and this run used the %s kernels, which round the "
                "float32 products otherwise." % (" and ".join(c["blas_core"] for c in curves),
                                                 core), ""]
    curve = same[0]
    found = {}
    for record in pretraining:
        found[(record.get("name"), record.get("epoch"))] = record
    for record in history:  # the last validation of an epoch
        found[(None, record.get("epoch"))] = record
    table = ["| layer | epoch | figure | the tutorial's code printed | dltut printed |",
             "| --- | --- | --- | --- | --- |"]
    compared = differing = 0
    for (layer, epoch, key), printed in sorted(curve["points"].items(),
                                               key=lambda item: (str(item[0][0]), item[0][1:])):
        value = found.get((layer, epoch), {}).get(key)
        if value is None:
            continue
        if curve["fmt"] == "repr":
            ours = repr(float(value))
        elif curve["fmt"] == "percent":
            ours = "%f" % (value * 100.0)
        else:
            ours = curve["fmt"] % value
        compared += 1
        differing += ours != printed
        table.append("| %s | %d | %s | %s | %s |" % (layer or "—", epoch, key.replace("_", " "),
                                                    printed, ours))
    if not compared:
        return []
    if len(table) > 2 + 16:  # the first and the last eight
        table = table[:2 + 8] + ["| … | | | | |"] + table[-8:]
    verdict = ("all %d compared figures are printed the same, to the last digit" % compared
               if not differing else "%d of the %d compared figures differ" % (differing, compared))
    counting = ("; epochs counted from 1, where the tutorial's lines count from 0"
                if any(layer for layer, _, _ in curve["points"]) else "")
    return ["Check against %s%s: %s." % (curve["source"], counting, verdict), ""] + table + [""]


def rnnrbm_report(script, dataset, folder, published, summary, config, where, floatx):
    """``(table row, detail lines)`` of a finished RNN-RBM run: its monitor epoch by epoch
    (a table and results/<name>-monitor.png), its first generated piece (the piano roll and
    the MIDI file copied to results/), the time taken and the command."""
    from dltut import plot
    name = "%s-%s" % (script, dataset)
    try:
        records = [r for r in rundir.RunDir(folder).read_history(rundir.PRETRAINING_HISTORY)
                   if isinstance(r.get("monitor"), (int, float))]
    except rundir.RunDirError:
        records = []
    epochs = summary.get("epochs") or len(records)
    seconds = summary.get("seconds_per_epoch")
    per_epoch = "%.2f" % seconds if isinstance(seconds, (int, float)) and seconds == seconds else "—"
    last = records[-1]["monitor"] if records else None
    row = "| %s | %s | %s | monitor %s after the last epoch (%s after the first) | — | %s, %s | %s | %.1f min |" % (
        script, dataset, published["figures"], "—" if last is None else "%.3f" % last,
        "%.3f" % records[0]["monitor"] if records else "—", epochs, summary.get("stopped_by"),
        per_epoch, summary.get("train_seconds", 0.0) / 60.0)
    source = config.get("source")
    details = ["## %s on %s" % (script, dataset), "", "Published: %s." % published["note"], "",
               "Data: %s (`python -m dltut.data fetch jsb`: the 371 chorales of music21's corpus, "
               "one step per quarter note, MIDI 21–108, split by number; not the paper's split, "
               "see `data/README.md`)." % "`%s`" % shown_path(source or "data/jsb.npz"), ""]
    if records:
        shown = [r for r in records if r["epoch"] in MONITOR_EPOCHS or r is records[-1]]
        details += ["Measured: the mean monitor of each epoch (a frame's log-probability-like "
                    "score under one more Gibbs step from the CD-15 chain, summed over the 88 "
                    "pitches; higher is better; not the paper's log-likelihood), %d epochs in "
                    "%.1f min of training (%s s an epoch, compilation excluded):" % (
                        epochs, summary.get("train_seconds", 0.0) / 60.0, per_epoch), "",
                    "| epoch | " + " | ".join(str(r["epoch"]) for r in shown) + " |",
                    "| --- |" + " --- |" * len(shown),
                    "| monitor | " + " | ".join("%.3f" % r["monitor"] for r in shown) + " |", ""]
        os.makedirs(os.path.join(where, "results"), exist_ok=True)
        figure = os.path.join("results", name + "-monitor.png")
        plot.save_pretraining_curves(
            [{"layer": 0, "name": script, "epoch": r["epoch"], "monitor": r["monitor"]}
             for r in records], os.path.join(where, figure),
            title="%s on %s: the mean monitor per epoch" % (script, dataset))
        details += ["![the monitor of %s on %s per epoch](%s)" % (script, dataset, figure), ""]
    details += piece_lines(script, dataset, folder, config, where)
    details += ["Command: `THEANO_FLAGS=floatX=%s %s`" % (floatx, shown_command(config.get(
        "command", "python scripts/%s.py" % script))), ""]
    return row, details


def shown_path(path):
    """``path`` relative to the repository's root when it lies inside it."""
    relative = os.path.relpath(os.path.abspath(path), ROOT)
    return path if relative.startswith("..") else relative


def piece_lines(script, dataset, folder, config, where):
    """Markdown on the first piece a finished RNN-RBM run generated: its notes and piano
    roll (copied to results/ with the MIDI file); [] when the run wrote none."""
    from dltut.datasets import jsb
    name = "%s-%s" % (script, dataset)
    midi, figure = os.path.join(folder, "sample1.mid"), os.path.join(folder, "sample1.png")
    if not (os.path.exists(midi) and os.path.exists(figure)):
        return []
    args = config.get("args", {})
    dt = args.get("dt", 0.3)
    os.makedirs(os.path.join(where, "results"), exist_ok=True)
    for source, suffix in ((midi, "-sample.mid"), (figure, "-sample.png")):
        shutil.copyfile(source, os.path.join(where, "results", name + suffix))
    notes, end = jsb.midi_notes(midi)
    roll = jsb.notes_to_piano_roll(notes, dt, jsb.PIANO_RANGE)
    steps = int(round(end / dt))
    text = ("A piece generated after the last epoch (the first of the run's `sample<N>.mid`; "
            "%d steps of %g s, %d notes, %.1f sounding at a time on average" % (
                steps, dt, len(notes), roll.sum() / float(max(steps, 1))))
    try:
        train = jsb.load_rolls(config.get("source"))[0]
        text += ", where the training chorales hold %.1f" % (
            sum(r.sum() for r in train) / float(sum(len(r) for r in train)))
    except (jsb.DatasetError, TypeError, OSError):
        pass
    # the MIDI file named, not linked: the site includes this report, and a link to a file
    # that is not a page would not resolve there
    return [text + "; the MIDI file: `results/%s-sample.mid`):" % name, "",
            "![a piano roll generated by %s on %s](results/%s-sample.png)" % (script, dataset, name),
            ""]


def report(runs, path, floatx):
    """Write the report to ``path``; figures go to results/ beside it, and results/notes.md
    (hand-written remarks on the runs), when present, is included at the end."""
    where = os.path.dirname(os.path.abspath(path))
    facts, host = machine()
    lines = ["# Reproducing the tutorials' results", "",
             "Produced by `%s scripts/reproduce.py` (resumable; `--report-only` rewrites this file "
             "from finished runs). Errors are the tutorials' way of scoring (mean over whole "
             "minibatches), with the all-examples figure beside it. The commands are run from "
             "the repository's root." % interpreter(), "",
             "Machine: %s. Theano %s, numpy %s, floatX %s, device %s, blas.ldflags `%s` (%s)." % (
                 host, facts.get("theano"), facts.get("numpy"), floatx, facts.get("device"),
                 facts.get("blas_ldflags"), facts.get("blas_reason")), ""]
    lines += ["| model | dataset | published validation / test | measured validation / test (all examples) | "
              "best at | epochs run, stopped by | s/epoch | total |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    details = []
    for script, dataset in ORDER:
        folder = run_dir(runs, script, dataset)
        published = PUBLISHED[(script, dataset)]
        summary = load_json(folder, rundir.SUMMARY)
        config = load_json(folder, rundir.CONFIG) or {}
        pub = published["figures"]
        if not summary or summary.get("stopped_by") in (None, "interrupted"):
            lines.append("| %s | %s | %s | %s | | | | |" % (script, dataset, pub, progress(folder)))
            check = original_code_check(script, dataset, folder)
            if check:  # a run in progress already has epochs to compare
                details += ["## %s on %s (in progress)" % (script, dataset), "",
                            "Published: %s." % published["note"], "", "Where it stands: %s. "
                            "Continue it with `%s scripts/reproduce.py --only %s --datasets %s`"
                            " (or `%s scripts/%s.py --resume %s`)." % (
                                progress(folder), interpreter(), script, dataset, interpreter(),
                                script, os.path.relpath(folder, ROOT)), ""] + check
            continue
        if summary.get("stopped_by") == "diverged":
            lines.append("| %s | %s | %s | diverged: %s | | | | |"
                         % (script, dataset, pub, summary.get("divergence")))
            continue
        if script == "rnnrbm":
            row, more = rnnrbm_report(script, dataset, folder, published, summary, config,
                                      where, floatx)
            lines.append(row)
            details += more
            continue
        if script in PRETRAINING_ONLY:
            lines.append(pretraining_row(script, dataset, published, summary))
            plot(folder, "%s-%s" % (script, dataset), where)
            details += ["## %s on %s" % (script, dataset), "",
                        "Published: %s." % published["note"], ""]
            details += published_costs(published, folder)
            details += original_code_check(script, dataset, folder)
            details += ["Command: `THEANO_FLAGS=floatX=%s %s`" % (
                floatx, shown_command(config.get("command", "python scripts/%s.py" % script))), ""]
            name = "%s-%s" % (script, dataset)
            for image in ("pretraining.png",) + published.get("images", ()):
                if os.path.exists(os.path.join(where, "results", "%s-%s" % (name, image))):
                    details += ["![%s on %s: %s](results/%s-%s)" % (
                        script, dataset, image.replace("_", " ").replace(".png", ""), name,
                        image), ""]
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
        details += curve + original_code_check(script, dataset, folder)
        details += ["Command: `THEANO_FLAGS=floatX=%s %s`" % (
            floatx, shown_command(config.get("command", "python scripts/%s.py --dataset %s" % (
                script, dataset)))), ""]
        if figure:
            details += ["![learning curves of %s on %s](%s)" % (script, dataset, figure), ""]
        if os.path.exists(os.path.join(where, "results", "%s-%s-pretraining.png" % (script, dataset))):
            details += ["![pre-training of %s on %s](results/%s-%s-pretraining.png)"
                        % (script, dataset, script, dataset), ""]
    notes = os.path.join(where, "results", "notes.md")
    if os.path.exists(notes):
        with open(notes) as handle:
            details += ["## Notes on these runs", "", handle.read().strip(), ""]
    text = "\n".join(lines + [""] + details) + "\n"
    from dltut.runs.checkpoint import atomic_write
    atomic_write(path, text.encode())
    print("wrote %s" % path)


def reproduce_main(argv):
    parser = OneLineParser(prog="reproduce.py", description=__doc__.split("\n\n")[0],
                           formatter_class=DefaultsHelpFormatter)
    names = sorted({s for s, _ in ORDER})
    parser.add_argument("--only", nargs="+", choices=names, default=names,
                        help="scripts to run")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS),
                        help="datasets to run them on (each script runs on those of ORDER: the "
                             "RNN-RBM on jsb, the others on mnist and fashion-mnist)")
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
