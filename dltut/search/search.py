"""A search over one experiment, round by round: :class:`SearchSpec` (what was asked),
:class:`Search` (its trials, read back from their run folders, the narrowing between rounds,
the results, the sorted table and the figures), and the search folder's checks.

* **Results**: selection on validation error only; ``results.json`` (every trial, the
  chosen one with its test error and its command line), a sorted table, and figures
  (:func:`dltut.plot.save_search_curves`, :func:`dltut.plot.save_hidden_units_curve`).

The search folder::

    search.json     what was asked (experiment, fixed flags, dimensions, command)
    results.json    every trial so far, the chosen one; rewritten after each trial
    trials/NAME/    one run folder per point (plus its train.log)
    workers.log     what local worker processes printed outside any trial
    validation_<setting>.png, hidden_units.png
"""
import itertools
import json
import os
import shlex

from ..cli.common import EXIT_BUSY, EXIT_INTERRUPTED, CLIError, python_command
from ..runs.checkpoint import atomic_write, printable, to_json
from .grid import at_edge, next_round, point_argv, point_name
from .workers import DaskExecutor, LocalPool, trial_status

__all__ = ["SEARCH_SPEC", "RESULTS", "TRIALS", "WORKERS_LOG", "HIDDEN_UNITS_FIGURE",
           "SearchSpec", "json_values", "validate_point", "Search", "executor_factory",
           "check_search_folder", "claim_search_folder"]

SEARCH_SPEC = "search.json"
RESULTS = "results.json"
TRIALS = "trials"
WORKERS_LOG = "workers.log"
HIDDEN_UNITS_FIGURE = "hidden_units.png"


class SearchSpec:
    """A parsed search command: experiment, fixed flags, dimensions, executor choices."""

    def __init__(self, experiment, base_argv, fixed, dimensions, out, rounds=1, workers=None,
                 scheduler=None, compiledir="per-worker", command=None):
        self.experiment, self.base_argv, self.fixed = experiment, list(base_argv), fixed
        self.dimensions, self.out, self.rounds = list(dimensions), out, rounds
        self.workers, self.scheduler, self.compiledir = workers, scheduler, compiledir
        self.command = command

    def identity(self):
        """What makes two commands the same search (executor choices and rounds aside)."""
        return {"experiment": self.experiment, "fixed": self.fixed,
                "dimensions": [{k: d.as_json()[k] for k in ("name", "log", "values")}
                               for d in self.dimensions]}

    def task(self, point):
        return {"experiment": self.experiment,
                "argv": self.base_argv + point_argv(self.dimensions, point),
                "folder": os.path.abspath(os.path.join(self.out, TRIALS,
                                                       point_name(self.dimensions, point))),
                "compiledir": self.compiledir}

    def command_for(self, point):
        """The winner as a ready command line (a new run in a folder of its own), with the
        one BLAS thread its trial had, so that it repeats the trial's numbers."""
        return " ".join(["OPENBLAS_NUM_THREADS=1", python_command(),
                         "scripts/%s.py" % self.experiment] + [
            shlex.quote(a) for a in self.base_argv + point_argv(self.dimensions, point)])


def json_values(fixed):
    return json.loads(to_json(fixed))


def validate_point(spec, point):
    """CLIError unless the experiment accepts ``point`` (checked as its script checks its
    flags, before anything is built)."""
    from ..cli.supervised import parse, train_config
    task = spec.task(point)
    try:
        _, args = parse(spec.experiment, task["argv"] + ["--out", task["folder"]])
        train_config(args)
    except CLIError as error:
        raise CLIError("the point %s: %s" % (point_name(spec.dimensions, point), error)) from None


class Search:
    """Runs a :class:`SearchSpec` round by round on an executor; reads every trial back
    from its run folder, so that a search run again continues where it stopped."""

    def __init__(self, spec, executor_factory=None, log=print):
        self.spec = spec
        self.dims = spec.dimensions
        self.executor_factory = executor_factory
        self.executor = None
        self._log = log
        self.trials = []        # dicts in the order first asked for
        self._by_name = {}
        self.tried = [list() for _ in self.dims]
        self.notes = []
        self.rounds_run = 0

    def log(self, line):
        """Print one progress line, escaped (:func:`dltut.runs.checkpoint.printable`)."""
        self._log(printable(line))

    # ----------------------------------------------------------------- bookkeeping
    def _ask(self, point, round_number):
        name = point_name(self.dims, point)
        if name in self._by_name:
            return None
        trial = {"name": name, "round": round_number, "point": point,
                 "settings": {d.name: (list(v) if d.multi else v)
                              for d, v in zip(self.dims, point)},
                 "folder": os.path.join(TRIALS, name), "status": "pending"}
        self.trials.append(trial)
        self._by_name[name] = trial
        for i, value in enumerate(point):
            if value not in self.tried[i]:
                self.tried[i].append(value)
        return trial

    def _read(self, trial):
        """Fill ``trial`` from its run folder."""
        folder = os.path.join(self.spec.out, trial["folder"])
        status, summary = trial_status(folder)
        if status != "done":
            if trial["status"] not in ("failed",):
                trial["status"] = "pending" if status == "new" else "partial"
            return trial
        trial.pop("error", None)
        trial["status"] = "diverged" if summary.get("divergence") is not None else "ok"
        for key in ("best_validation_error", "best_validation_error_all", "best_epoch",
                    "best_iteration", "epochs", "stopped_by", "divergence", "train_seconds",
                    "compile_seconds", "seconds_per_epoch"):
            trial[key] = summary.get(key)
        trial["_summary"] = summary
        return trial

    def ranked(self):
        """The trials best first: finished ones by validation error (the tutorial's, then
        over all examples), then diverged, failed and unfinished ones; ties in the order
        asked."""
        order = {"ok": 0, "diverged": 1, "failed": 2, "partial": 3, "pending": 3}

        def key(item):
            index, trial = item
            ok = trial["status"] == "ok"
            return (order.get(trial["status"], 4),
                    trial.get("best_validation_error") if ok else 0.0,
                    trial.get("best_validation_error_all") if ok else 0.0, index)
        return [t for _, t in sorted(enumerate(self.trials), key=key)]

    def best(self):
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0]["status"] == "ok" else None

    # ----------------------------------------------------------------- running
    def validate(self, point):
        """CLIError unless the experiment accepts the point (see :func:`validate_point`)."""
        validate_point(self.spec, point)

    def run(self):
        rounds = max(1, self.spec.rounds)
        grids = [list(d.values) for d in self.dims]
        for number in range(1, rounds + 1):
            points = [p for p in itertools.product(*grids)]
            fresh = []
            for point in points:
                trial = self._ask(tuple(point), number)
                if trial is not None:
                    try:
                        self.validate(trial["point"])
                    except CLIError as error:
                        if number == 1:
                            raise
                        self.notes.append("round %d: skipped %s" % (number, error))
                        self.trials.remove(trial)
                        del self._by_name[trial["name"]]
                        continue
                    fresh.append(trial)
            if not fresh:
                self.notes.append("round %d: no new point (narrowing found only points "
                                  "already tried); stopped" % number)
                break
            self.rounds_run = number
            for trial in fresh:
                self._read(trial)
            todo = [t for t in fresh if t["status"] != "ok" and t["status"] != "diverged"]
            self.log("round %d: %d point%s, %d to run%s" % (
                number, len(fresh), "" if len(fresh) == 1 else "s", len(todo),
                self._round_note(grids, number)))
            self._run_trials(todo)
            self.write_results()
            if number == rounds:
                break
            best = self.best()
            if best is None:
                self.notes.append("round %d: no trial finished without diverging; nothing "
                                  "to narrow around" % number)
                break
            if not any(d.log for d in self.dims):
                self.notes.append("only --log-grid settings narrow, and none is searched: "
                                  "one round")
                break
            grids = next_round(self.dims, self.tried, best["point"])
        for i, dim in enumerate(self.dims):
            best = self.best()
            if best is not None and at_edge(dim, self.tried[i], best["point"][i]):
                self.notes.append("the best %s (%s) is at the edge of the range searched; "
                                  "the optimum may lie beyond it: widen --log-grid %s"
                                  % (dim.name, dim.text(best["point"][i]), dim.name))
        self.write_results()
        return self

    def _round_note(self, grids, number):
        if number == 1:
            return ""
        parts = ["%s %s" % (d.name, ", ".join(d.text(v) for v in grid))
                 for d, grid in zip(self.dims, grids) if d.log]
        return " (narrowed: %s)" % "; ".join(parts)

    def _run_trials(self, todo):
        if not todo:
            return
        if self.executor is None:
            self.executor = self.executor_factory()
            self.log("running trials on %s" % self.executor.describe())
        total, done = len(todo), [0]
        tasks = {self.spec.task(t["point"])["folder"]: t for t in todo}

        def on_result(task, result):
            trial = tasks[task["folder"]]
            done[0] += 1
            self._read(trial)
            trial["attempts"] = result.get("attempts", 1)
            trial["lock_wait"] = trial.get("lock_wait", 0.0) + result.get("lock_wait", 0.0)
            trial["trial_seconds"] = trial.get("trial_seconds", 0.0) + result.get("seconds", 0.0)
            trial["worker"] = "%s:%s" % (result.get("host"), result.get("pid"))
            if result.get("code") == EXIT_INTERRUPTED:
                trial["status"] = "partial"
            elif trial["status"] not in ("ok", "diverged"):
                trial["status"] = "failed"
                trial["error"] = result.get("error") or "exit code %s" % result.get("code")
                if result.get("code") == 0:
                    trial["error"] = ("the worker reports success but %s holds no finished "
                                      "run: the search folder must be on a file system "
                                      "every worker sees at the same path"
                                      % os.path.join(self.spec.out, trial["folder"]))
            self.log("[%d/%d] %s" % (done[0], total, self._progress_text(trial, result)))
            self.write_results()

        self.executor.map([self.spec.task(t["point"]) for t in todo], on_result)

    def _progress_text(self, trial, result):
        what = {"ok": lambda: "validation error %.2f %% (epoch %s)" % (
                    100 * trial["best_validation_error"], trial["best_epoch"]),
                "diverged": lambda: "diverged",
                "partial": lambda: "interrupted (resumable)",
                "failed": lambda: "failed: %s" % trial.get("error")}[trial["status"]]()
        extras = []
        if result.get("status_before") == "partial":
            extras.append("resumed")
        if result.get("attempts", 1) > 1:
            extras.append("%d attempts" % result["attempts"])
        return "%s: %s, %.1f s%s" % (trial["name"], what, result.get("seconds", 0.0),
                                     " (%s)" % ", ".join(extras) if extras else "")

    def close(self, interrupted=False):
        if self.executor is not None:
            if interrupted:
                self.executor.interrupt()
            else:
                self.executor.close()
            self.executor = None

    # ----------------------------------------------------------------- reporting
    def chosen(self):
        """The chosen trial (lowest validation error) with its test error, or None."""
        best = self.best()
        if best is None:
            return None
        summary = best.get("_summary", {})
        return {"name": best["name"], "settings": best["settings"], "folder": best["folder"],
                "best_validation_error": best["best_validation_error"],
                "best_validation_error_all": best["best_validation_error_all"],
                "test_error": summary.get("test_error"),
                "test_error_all": summary.get("test_error_all"),
                "best_epoch": best["best_epoch"],
                "command": self.spec.command_for(best["point"])}

    def results(self):
        keep = ("name", "round", "settings", "status", "best_validation_error",
                "best_validation_error_all", "best_epoch", "best_iteration", "epochs",
                "stopped_by", "divergence", "error", "folder", "train_seconds",
                "compile_seconds", "seconds_per_epoch", "trial_seconds", "lock_wait",
                "attempts", "worker")
        trials = [{k: t[k] for k in keep if k in t} for t in self.ranked()]
        for rank, trial in enumerate(trials, 1):
            trial["rank"] = rank
        return {"experiment": self.spec.experiment, "fixed": self.spec.fixed,
                "dimensions": [d.as_json() for d in self.dims],
                "rounds": self.rounds_run, "selected_on": "best_validation_error",
                "chosen": self.chosen(), "trials": trials, "notes": self.notes,
                "command": self.spec.command}

    def write_results(self):
        atomic_write(os.path.join(self.spec.out, RESULTS),
                     (to_json(self.results(), indent=2) + "\n").encode())

    def table(self):
        """The sorted table, as lines (no timings: the same search prints the same table)."""
        header = ["rank", "round"] + [d.name for d in self.dims] + [
            "validation %", "(all) %", "best epoch", "stopped by"]
        rows = []
        for rank, trial in enumerate(self.ranked(), 1):
            row = [str(rank), str(trial["round"])] + [
                d.text(v) for d, v in zip(self.dims, trial["point"])]
            if trial["status"] == "ok":
                row += ["%.4f" % (100 * trial["best_validation_error"]),
                        "%.4f" % (100 * trial["best_validation_error_all"]),
                        str(trial["best_epoch"]), str(trial["stopped_by"])]
            else:
                row += [trial["status"], "", "", trial.get("error", "")[:60]]
            rows.append(row)
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        line = lambda r: "  ".join(c.rjust(w) if i < 2 or i >= 2 + len(self.dims)  # noqa
                                   else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        return [line(header).rstrip()] + [line(r).rstrip() for r in rows]

    def report_lines(self):
        counts = {}
        for trial in self.trials:
            counts[trial["status"]] = counts.get(trial["status"], 0) + 1
        lines = ["%s search: %d trial%s in %d round%s (%s); chosen on validation error" % (
            self.spec.experiment, len(self.trials), "" if len(self.trials) == 1 else "s",
            self.rounds_run, "" if self.rounds_run == 1 else "s",
            ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())))]
        lines += self.table()
        chosen = self.chosen()
        if chosen is not None:
            test = chosen["test_error"]
            lines.append("chosen: %s: validation error %.4f %%, test error %s (the test error "
                         "of this configuration alone)" % (
                             chosen["name"], 100 * chosen["best_validation_error"],
                             "%.4f %%" % (100 * test) if test is not None else "not measured"))
            lines.append("run it: %s" % chosen["command"])
            lines.append("its run folder: %s" % os.path.join(self.spec.out, chosen["folder"]))
        else:
            lines.append("no trial finished without diverging: nothing to choose")
        lines += ["note: %s" % note for note in self.notes]
        return lines

    def figures(self):
        """Draw the figures into the search folder; returns their paths."""
        from .. import plot
        ok = [t for t in self.trials if t["status"] == "ok"]
        best = self.best()
        if best is None:
            return []
        paths = []
        numeric = [i for i, d in enumerate(self.dims)
                   if all(d.number(t["point"][i]) is not None for t in ok)]
        for i in numeric:
            others = [j for j in range(len(self.dims)) if j != i]
            line_dim = others[0] if others else None
            rest = others[1:]
            points = [t for t in ok if all(t["point"][j] == best["point"][j] for j in rest)]
            if len({t["point"][i] for t in points}) < 2:
                continue
            series = {}
            for t in points:
                label = (self.dims[line_dim].text(t["point"][line_dim])
                         if line_dim is not None else None)
                series.setdefault(label, []).append(
                    (self.dims[i].number(t["point"][i]), 100 * t["best_validation_error"]))
            order = (lambda label: self.dims[line_dim].number(
                self._value_of(line_dim, label)) or 0) if line_dim is not None else None
            path = os.path.join(self.spec.out, "validation_%s.png" % self.dims[i].name)
            fixed = ", ".join("%s = %s" % (self.dims[j].name, self.dims[j].text(best["point"][j]))
                              for j in rest)
            plot.save_search_curves(
                series, path, x_label=self.dims[i].name,
                line_label=self.dims[line_dim].name if line_dim is not None else None,
                best=(self.dims[i].number(best["point"][i]),
                      100 * best["best_validation_error"]),
                title="%s: validation error against %s%s" % (
                    self.spec.experiment, self.dims[i].name, " (%s)" % fixed if fixed else ""),
                order=order, diverged=sum(t["status"] == "diverged" for t in self.trials))
            paths.append(path)
        hidden = [i for i, d in enumerate(self.dims) if d.name == "n_hidden"]
        if hidden and hidden[0] in numeric:
            i = hidden[0]
            points = [t for t in ok if all(t["point"][j] == best["point"][j]
                                           for j in range(len(self.dims)) if j != i)]
            rows = sorted((self.dims[i].number(t["point"][i]), 100 * t["best_validation_error"],
                           100 * t["_summary"]["test_error"]) for t in points
                          if t["_summary"].get("test_error") is not None)
            if len(rows) >= 2:
                path = os.path.join(self.spec.out, HIDDEN_UNITS_FIGURE)
                plot.save_hidden_units_curve(rows, path, title="%s: error against hidden units"
                                             % self.spec.experiment)
                paths.append(path)
        return paths

    def _value_of(self, index, label):
        for value in self.tried[index]:
            if self.dims[index].text(value) == label:
                return value
        return None


def executor_factory(spec):
    """A function making the executor ``spec`` asks for (started only when needed)."""
    def make():
        if spec.scheduler is None:
            return LocalPool(spec.workers, os.path.join(spec.out, WORKERS_LOG))
        return DaskExecutor(spec.scheduler, n_workers=spec.workers)
    return make


def check_search_folder(folder):
    """Refuse (:class:`dltut.runs.rundir.RunDirWriteError`, one line) a search folder that is not
    what it claims, before anything is written in it: ``trials/`` or a ``trials/<name>`` that
    is a symbolic link (or ``trials`` not a folder), a ``train.log`` or ``workers.log`` that
    is a link (symbolic or hard) or not a regular file.  The same rules as a run folder's
    (:class:`dltut.runs.rundir.RunDir`): nothing is ever written through a link."""
    from ..runs.rundir import RunDirWriteError, TRAIN_LOG
    trials = folder.file(TRIALS)
    if os.path.lexists(trials):
        folder.make_folder(TRIALS)  # refuses a link, or something else than a folder
        for name in sorted(os.listdir(trials)):
            path = os.path.join(trials, name)
            if os.path.islink(path):
                raise RunDirWriteError(path, "it is a symbolic link; refusing to write through "
                                             "it (remove the link)", "write into")
            if os.path.isdir(path):
                folder.check_appendable(os.path.join(TRIALS, name, TRAIN_LOG))
    folder.check_appendable(WORKERS_LOG)


def claim_search_folder(spec):
    """Create (or re-open) the search folder, lock it, and check that it holds this search
    and nothing written through it could land outside it (:func:`check_search_folder`);
    returns the locked :class:`dltut.runs.rundir.RunDir` standing for its lock."""
    from ..runs.rundir import RunDir, RunDirBusy, RunDirError
    folder = RunDir(spec.out)
    if os.path.lexists(spec.out) and not os.path.isdir(spec.out):
        raise CLIError("%s exists and is not a folder; choose another --out" % spec.out)
    try:
        folder.lock()
    except RunDirBusy as error:
        raise CLIError("%s is in use by process %s, another search on it; wait for it to end "
                       "or choose another --out" % (spec.out, error.pid or "(unknown)"),
                       EXIT_BUSY) from None
    try:
        if folder.run_files():
            raise CLIError("%s holds a training run, not a search; choose another --out"
                           % spec.out)
        check_search_folder(folder)
        identity = json.loads(to_json(spec.identity()))
        try:
            saved = folder.read_json(SEARCH_SPEC)
        except RunDirError as error:
            raise CLIError("%s; choose another --out" % error) from None
        if saved is not None:
            if not isinstance(saved, dict) or {k: saved.get(k) for k in identity} != identity:
                raise CLIError("%s holds another search (%s); run that command to continue it, "
                               "or choose another --out" % (spec.out, saved.get("command", "?")
                                                            if isinstance(saved, dict) else "?"))
        else:
            folder.write_bytes(SEARCH_SPEC, (to_json(dict(identity, command=spec.command),
                                                     indent=2) + "\n").encode())
    except BaseException:
        folder.unlock()
        raise
    return folder


