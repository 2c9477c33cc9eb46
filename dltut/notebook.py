"""Training in a Jupyter notebook: a progress bar that updates in place, live learning curves.

:class:`~dltut.training.Trainer` uses :class:`NotebookDisplay` by itself when it runs in a
Jupyter kernel (``progress=None``, the default), and draws the learning curves under the bar
with ``live_plot=True``::

    trainer = Trainer(compiled, config, model=model, run_dir="runs/mlp-nb", live_plot=True)
    result = trainer.run()      # interrupt the kernel (the stop button) to stop it early

The bar is :mod:`tqdm`'s (its rate, ETA and throttling), drawn through IPython's display
handles rather than tqdm's ipywidgets bar: a display handle's last state is what a saved
notebook keeps (a widget keeps its first state, "0 %"), and it needs nothing beyond IPython.
Its text wraps under the bar where the output is narrow.  A run that finished (patience,
the schedule, ``n_epochs``) ends with a full bar, also when patience stopped it inside an
epoch.  With this display the trainer's default ``log=print`` keeps the tutorial's lines
(``trainer.print_log()`` prints them) and prints one line at the end.  Outside a kernel the
bar prints plain text lines instead.  Nothing here imports IPython, tqdm or matplotlib
before a display is made.
"""
import html
import io
import sys
import time

__all__ = ["BAR_SECONDS", "LIVE_PLOT_SECONDS", "HTML_FORMAT", "LIVE_PLOT_FIGSIZE", "LIVE_PLOT_DPI",
           "in_notebook", "LiveCurves", "NotebookDisplay"]

#: The bar is redrawn at most this often (seconds), and when the run ends.
BAR_SECONDS = 0.5
#: The live learning curves are redrawn at most this often (seconds); the last state is
#: always drawn when the run ends.
LIVE_PLOT_SECONDS = 1.0
#: The bar's text in HTML, beside a <progress> element (tqdm's fields, without its text bar).
HTML_FORMAT = "{desc}{percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
#: Size of the live learning-curve figure in inches, and its resolution (720 x 450 pixels).
LIVE_PLOT_FIGSIZE = (8.0, 5.0)
LIVE_PLOT_DPI = 90


def in_notebook():
    """True when running in a Jupyter kernel (an IPython shell with a kernel)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _display(data, handle=None):
    """Show a mime bundle ``data`` as a new output (returns its handle) or replace the
    output ``handle`` shows; outside IPython, print its text."""
    if not in_notebook():  # plain Python: the text form, one line per update
        print(data.get("text/plain", ""), flush=True)
        return handle
    from IPython.display import display
    if handle is None:
        return display(data, raw=True, display_id=True)
    handle.update(data, raw=True)
    return handle


def _tqdm_class():
    from tqdm.std import tqdm

    class DisplayBar(tqdm):
        """tqdm drawn into one notebook output: ``display()`` is tqdm's extension point."""

        monitor_interval = 0  # no monitor thread: outputs are updated from the training thread

        def __init__(self, *args, **kwargs):
            self.handle, self.shown_at, self.show = None, None, None
            super().__init__(*args, gui=True, **kwargs)

        def display(self, msg=None, pos=None, force=False):
            now = time.perf_counter()
            if not force and self.shown_at is not None and now - self.shown_at < BAR_SECONDS:
                return False
            self.shown_at = now
            meter = self.format_dict
            text = self.format_meter(**dict(meter, ascii=True))
            short = self.format_meter(**dict(meter, bar_format=HTML_FORMAT))
            total = meter["total"] or 1
            bundle = {
                "text/plain": text,
                # the text wraps under the bar in a narrow output instead of being cut off
                "text/html": '<div style="display: flex; flex-wrap: wrap; align-items: center; '
                             'column-gap: 0.8em"><progress value="%d" max="%d" style="width: '
                             '20em; flex: none"></progress><span style="font-family: monospace; '
                             'white-space: pre-wrap">%s</span></div>'
                             % (meter["n"], total, html.escape(short)),
            }
            self.handle = (self.show or _display)(bundle, self.handle)
            return True

    return DisplayBar


class LiveCurves:
    """Learning curves drawn into one notebook output and redrawn as validations arrive.

    Call it with each history record (a :class:`~dltut.training.Trainer` does, with
    ``live_plot=True``); :meth:`draw` draws the last state.  The figure is
    :func:`dltut.plot.draw_learning_curves` on a bare matplotlib Figure, shown as a PNG,
    redrawn at most every ``min_seconds``.
    """

    def __init__(self, records=(), title=None, min_seconds=LIVE_PLOT_SECONDS, show=None):
        show = show or _display
        self.title, self.min_seconds, self._show = title, min_seconds, show
        self.records, self.handle, self.drawn = [dict(r) for r in records], None, 0
        self._last = None
        self.handle = show({"text/plain": "(the learning curves appear after the first "
                                          "validation)"})

    def __call__(self, record):
        self.records.append(dict(record))
        now = time.perf_counter()
        if self._last is None or now - self._last >= self.min_seconds:
            self.draw()

    def png(self):
        """The figure of the records so far, as PNG bytes."""
        from .plot import draw_learning_curves, new_figure
        fig = new_figure(LIVE_PLOT_FIGSIZE, LIVE_PLOT_DPI)
        draw_learning_curves(fig, self.records, self.title)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=LIVE_PLOT_DPI)
        return buffer.getvalue()

    def draw(self):
        """Redraw now (nothing to draw before the first record)."""
        if not self.records or self.drawn == len(self.records):
            return
        import base64
        self.handle = self._show({"image/png": base64.b64encode(self.png()).decode("ascii"),
                                  "text/plain": "learning curves, %d validations"
                                                % len(self.records)}, self.handle)
        self.drawn, self._last = len(self.records), time.perf_counter()


class NotebookDisplay:
    """What :class:`~dltut.training.Trainer` shows while it runs in a notebook: a progress bar
    over the minibatches of the current epoch and, with ``live_plot``, the learning curves.

    It has the trainer's progress interface: ``start_epoch(epoch, first)``,
    ``update(done)``, ``clear()``, ``validated(record)`` and ``close(result)``.  ``history``
    holds the records of the run so far (a continued run draws them too).
    """

    def __init__(self, n_batches, n_epochs, bar=True, live_plot=False, history=(),
                 show=None):
        show = show or _display
        self.n_batches, self.n_epochs = n_batches, n_epochs
        errors = [r["validation_error"] for r in history]
        self.best = min(errors) if errors else None
        self.bar = None
        if bar:
            self.bar = _tqdm_class()(total=n_batches, unit="minibatch", leave=True,
                                     mininterval=BAR_SECONDS, file=io.StringIO())
            self.bar.show = show
            self.bar.display(force=True)
        self.curves = LiveCurves(history, show=show) if live_plot else None

    def start_epoch(self, epoch, first):
        if self.bar is not None:
            self.bar.reset(total=self.n_batches)
            self.bar.set_description("epoch %d/%d" % (epoch, self.n_epochs), refresh=False)
            if first:
                self.bar.update(first)

    def update(self, done):
        if self.bar is not None and done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def clear(self):
        """Nothing to clear: log lines go to their own output below the bar."""

    def validated(self, record):
        error = record["validation_error"]
        self.best = error if self.best is None else min(self.best, error)
        if self.bar is not None:
            self.bar.set_postfix_str("validation %.2f %% (best %.2f %%)"
                                     % (error * 100, self.best * 100), refresh=False)
        if self.curves is not None:
            self.curves(record)

    def close(self, result=None):
        if self.curves is not None:
            self.curves.draw()
        if self.bar is not None:
            done = None
            if result is not None:  # minibatches done in the last epoch
                done = result.iterations - (result.epochs - 1) * self.n_batches
                if not 0 < done <= self.n_batches:
                    done = None
            if result is None:
                status = "stopped by an error or a second interrupt"
            elif result.stopped_by in ("interrupted", "diverged"):  # the bar shows where
                if done is not None:
                    self.bar.n = done
                status = ("interrupted at epoch %d; run() again continues" % result.epochs
                          if result.stopped_by == "interrupted"
                          else "diverged at epoch %d" % result.epochs)
            else:  # finished: a full bar, also when patience stopped inside an epoch
                self.bar.n = self.n_batches
                status = "done at epoch %d, stopped by %s" % (result.epochs, result.stopped_by)
                if done is not None and done < self.n_batches:
                    status += " at minibatch %d/%d" % (done, self.n_batches)
            self.bar.set_description(status, refresh=False)
            self.bar.display(force=True)
            self.bar.close()
