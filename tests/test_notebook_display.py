"""Training in a notebook (dltut.notebook and the Trainer's hooks): the progress bar and the
live learning curves update one output in place, and an interrupted run leaves the model
holding its best parameters while run() again continues exactly.  The last test does it in
a real Jupyter kernel, interrupted the way the stop button interrupts it."""
import base64
import importlib.util
import io
import os
import sys
import time

import numpy
import pytest

import _tiny
from _processes import CtrlCAt
from dltut import notebook
from dltut.training import Progress, TrainConfig, Trainer, compile_functions

TESTS = os.path.dirname(os.path.abspath(__file__))


class Outputs:
    """A stand-in for IPython's display: one list of bundles per output (handle)."""

    def __init__(self):
        self.outputs = []

    def __call__(self, bundle, handle=None):
        if handle is None:
            self.outputs.append([bundle])
            return len(self.outputs) - 1
        self.outputs[handle].append(bundle)
        return handle


def test_display_bar_updates_one_output_and_ends_with_the_result():
    shown = Outputs()
    display = notebook.NotebookDisplay(10, 3, show=shown)
    for epoch in (1, 2):
        display.start_epoch(epoch, 0)
        for done in range(1, 11):
            display.update(done)
        display.validated({"validation_error": 0.25 / epoch, "epoch": epoch, "iteration": 10 * epoch})
    result = type("R", (), {"stopped_by": "patience", "epochs": 2, "iterations": 20})()
    display.close(result)
    assert len(shown.outputs) == 1  # everything went into the one output
    last = shown.outputs[0][-1]
    assert last["text/plain"].startswith("done at epoch 2, stopped by patience: 100%")
    assert "validation 12.50 % (best 12.50 %)" in last["text/plain"]
    assert '<progress value="10" max="10"' in last["text/html"]
    # redraws are throttled: far fewer than the 20 updates
    assert len(shown.outputs[0]) < 10


def test_display_bar_starts_a_continued_epoch_where_it_stopped():
    shown = Outputs()
    display = notebook.NotebookDisplay(10, 3, show=shown)
    display.start_epoch(2, 7)
    assert display.bar.n == 7
    display.close(None)
    assert shown.outputs[0][-1]["text/plain"].startswith("stopped by an error")


def test_live_curves_redraw_the_records_as_png():
    shown = Outputs()
    curves = notebook.LiveCurves(min_seconds=0, show=shown)
    history = [{"iteration": 5 * i, "epoch": i, "validation_error": 0.5 / i, "train_cost": 1.0 / i,
                "test_error": 0.5 / i, "learning_rate": 0.1} for i in range(1, 4)]
    for record in history:
        curves(record)
    bundles = shared = shown.outputs[0]
    assert "appear after the first validation" in bundles[0]["text/plain"]
    assert [b["text/plain"] for b in bundles[1:]] == [
        "learning curves, %d validations" % n for n in (1, 2, 3)]
    from PIL import Image
    image = Image.open(io.BytesIO(base64.b64decode(shared[-1]["image/png"])))
    assert image.size == (int(notebook.LIVE_PLOT_FIGSIZE[0] * notebook.LIVE_PLOT_DPI),
                          int(notebook.LIVE_PLOT_FIGSIZE[1] * notebook.LIVE_PLOT_DPI))
    curves.draw()  # nothing new: no redraw
    assert len(bundles) == 4


def test_live_curves_are_throttled_but_draw_the_last_state():
    shown = Outputs()
    curves = notebook.LiveCurves(min_seconds=3600, show=shown)
    for i in range(1, 6):
        curves({"iteration": i, "epoch": i, "validation_error": 0.1})
    assert len(shown.outputs[0]) == 2  # the placeholder and the first validation
    curves.draw()
    assert shown.outputs[0][-1]["text/plain"] == "learning curves, 5 validations"


def test_outside_a_notebook_the_trainer_keeps_the_terminal_bar():
    assert not notebook.in_notebook()
    model, x, y = _tiny.logreg()
    config = TrainConfig(learning_rate=0.1, batch_size=10, n_epochs=1)
    fns = compile_functions(model, x, y, _tiny.shared(_tiny.splits()), config)
    for progress in (None, True, False):
        trainer = Trainer(fns, config, model=model, log=None, progress=progress)
        assert isinstance(trainer._make_display(30), Progress)
    assert isinstance(Trainer(fns, config, log=None, progress="notebook")._make_display(30),
                      notebook.NotebookDisplay)


def _notebook_trainer(monkeypatch, log=print, **cfg):
    """A tiny logistic regression trained with the notebook display, its outputs recorded."""
    shown = Outputs()
    monkeypatch.setattr(notebook, "_display", shown)
    model, x, y = _tiny.logreg()
    config = TrainConfig(learning_rate=0.1, batch_size=10, **cfg)  # 30 minibatches an epoch
    fns = compile_functions(model, x, y, _tiny.shared(_tiny.splits()), config)
    return Trainer(fns, config, model=model, log=log, progress="notebook"), shown


def test_a_notebook_run_prints_one_line_and_keeps_the_tutorials_lines(monkeypatch, capsys):
    # what the command line prints: the same run without the notebook display
    model, x, y = _tiny.logreg()
    config = TrainConfig(learning_rate=0.1, batch_size=10, n_epochs=6)
    fns = compile_functions(model, x, y, _tiny.shared(_tiny.splits()), config)
    Trainer(fns, config, model=model, progress=False).run()
    expected = capsys.readouterr().out.splitlines()
    assert sum("validation error" in line for line in expected) == 6

    trainer, shown = _notebook_trainer(monkeypatch, n_epochs=6)
    result = trainer.run()
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1, printed  # one line, not two an epoch
    assert printed[0].startswith("done: 6 epochs, stopped by n_epochs; best validation error")
    assert "%d log lines: trainer.print_log() prints them" % len(expected) in printed[0]
    assert len(shown.outputs) == 1  # the bar's one output; the lines are not shown
    # one call away, exactly as the command line prints them
    assert result.log == trainer.log_lines == expected
    trainer.print_log()
    assert capsys.readouterr().out.splitlines() == expected

    # run() again (finished: nothing to do) says so, and the log grows by that line only
    again = trainer.run()
    assert again.log == ["this run already finished (stopped by n_epochs); nothing to do"]
    assert trainer.log_lines == expected + again.log


def test_a_notebook_run_with_its_own_log_gets_every_line(monkeypatch):
    lines = []
    trainer, _ = _notebook_trainer(monkeypatch, log=lines.append, n_epochs=2)
    result = trainer.run()
    assert lines == result.log and sum("validation error" in line for line in lines) == 2


def test_a_patience_stop_inside_an_epoch_ends_with_a_full_bar(monkeypatch, capsys):
    trainer, shown = _notebook_trainer(monkeypatch, n_epochs=50, patience=45)
    result = trainer.run()
    done = result.iterations - (result.epochs - 1) * 30
    assert result.stopped_by == "patience" and 0 < done < 30  # stopped inside its last epoch
    last = shown.outputs[0][-1]
    assert last["text/plain"].startswith("done at epoch %d, stopped by patience at minibatch "
                                         "%d/30: 100%%" % (result.epochs, done)), last["text/plain"]
    assert '<progress value="30" max="30"' in last["text/html"]


def test_the_bar_text_wraps_beside_the_bar_without_a_second_bar():
    shown = Outputs()
    display = notebook.NotebookDisplay(83, 1000, show=shown)
    display.start_epoch(999, 0)
    display.update(41)
    display.validated({"validation_error": 0.075, "epoch": 999, "iteration": 83 * 999})
    display.close(type("R", (), {"stopped_by": "n_epochs", "epochs": 999, "iterations": 83 * 999})())
    page = shown.outputs[0][-1]["text/html"]
    assert "flex-wrap: wrap" in page and "white-space: pre-wrap" in page
    assert "#" not in page and "|" not in page  # the <progress> element is the only bar
    assert "done at epoch 999, stopped by n_epochs: 100% 83/83" in page
    assert "validation 7.50 % (best 7.50 %)" in page


def _trainer(seed, run_dir=None, n_epochs=6):
    model, x, y = _tiny.mlp(seed=seed)
    config = TrainConfig(learning_rate=0.05, batch_size=5, n_epochs=n_epochs, patience=10 ** 9)
    fns = compile_functions(model, x, y, _tiny.shared(_tiny.splits(sizes=(100, 60, 60))), config)
    return model, Trainer(fns, config, model=model, log=None, progress=False,
                          run_dir=None if run_dir is None else str(run_dir))


def test_an_interrupted_run_holds_its_best_parameters_and_run_again_continues(tmp_path):
    straight_model, straight = _trainer(seed=3)
    straight_result = straight.run()

    model, trainer = _trainer(seed=3, run_dir=tmp_path / "run")
    train_model = trainer.fns.train_model
    # a Ctrl-C as the 50th minibatch starts (20 minibatches an epoch)
    trainer.fns.train_model = CtrlCAt(50, before=True).wrap(train_model)
    stopped = trainer.run()
    assert stopped.stopped_by == "interrupted" and stopped.iterations == 50
    assert trainer.state.epoch == 3 and trainer.state.minibatch_index == 10
    # the model shows the best parameters; the state (and the checkpoint) keep the trained ones
    for param, best in zip(model.params, trainer.best_params):
        numpy.testing.assert_array_equal(param.get_value(), best)
    from dltut.runs import checkpoint as ckpt
    saved, _ = ckpt.load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    live = trainer.state_dict()["params"]
    assert not all(numpy.array_equal(a, b) for a, b in zip(live, trainer.best_params))
    for a, b in zip(saved["params"], live):
        numpy.testing.assert_array_equal(a, b)

    trainer.fns.train_model = train_model
    finished = trainer.run()
    assert (finished.epochs, finished.iterations, finished.best_iteration) == (
        straight_result.epochs, straight_result.iterations, straight_result.best_iteration)
    for a, b in zip(model.params, straight_model.params):
        numpy.testing.assert_array_equal(a.get_value(), b.get_value())


# ------------------------------------------------------------------ in a real kernel
KERNEL_CODE = """
import sys, numpy
sys.path.insert(0, {tests!r})
import theano
import _tiny
from dltut.training import TrainConfig, Trainer, compile_functions

def build(seed=3):
    model, x, y = _tiny.mlp(seed=seed)
    config = TrainConfig(learning_rate=0.05, batch_size=1, n_epochs=60, patience=10 ** 9)
    fns = compile_functions(model, x, y, _tiny.shared(_tiny.splits(sizes=(300, 50, 50))), config)
    return model, fns, config

model, fns, config = build()
trainer = Trainer(fns, config, model=model, run_dir={run_dir!r}, live_plot=True,
                  log=lambda line: print(line, flush=True))
print("ready", flush=True)
"""


@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("jupyter_client", "ipykernel")),
                    reason="jupyter_client and ipykernel are not installed: pip install -e "
                           "'.[test]' (make test does)")
def test_a_kernel_interrupt_stops_training_and_leaves_a_live_kernel(tmp_path):
    sys.path.insert(0, os.path.join(TESTS, "..", "tools"))
    from run_notebooks import kernel_manager
    km = kernel_manager(str(tmp_path / "kernels"))
    km.start_kernel(cwd=str(tmp_path))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)

        def execute(code, interrupt_when=None, timeout=300):
            msg_id = client.execute(code)
            messages, sent = [], False
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    msg = client.get_iopub_msg(timeout=0.2)
                except Exception:
                    msg = None
                if msg is not None and msg["parent_header"].get("msg_id") == msg_id:
                    messages.append(msg)
                    if (msg["msg_type"] == "status"
                            and msg["content"]["execution_state"] == "idle"):
                        return messages
                if interrupt_when and not sent and interrupt_when(messages):
                    km.interrupt_kernel()  # what the stop button does
                    sent = True
            raise AssertionError("the cell did not finish in %d s" % timeout)

        def text(messages):
            return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")

        def errors(messages):
            return [m["content"]["ename"] for m in messages if m["msg_type"] == "error"]

        ready = execute(KERNEL_CODE.format(tests=TESTS, run_dir=str(tmp_path / "run")))
        assert "ready" in text(ready) and not errors(ready), text(ready)

        def after_three_validations(messages):
            return text(messages).count("validation error") >= 3

        first = execute("result = trainer.run(); print('stopped by', result.stopped_by)",
                        interrupt_when=after_three_validations)
        assert not errors(first), errors(first)
        assert "stopped by interrupted" in text(first), text(first)
        assert "the model holds its best parameters" in text(first)
        kinds = [m["msg_type"] for m in first]
        assert "display_data" in kinds and "update_display_data" in kinds
        bars = [m["content"]["data"]["text/plain"] for m in first
                if m["msg_type"] in ("display_data", "update_display_data")
                and "minibatch" in m["content"]["data"].get("text/plain", "")]
        assert bars[-1].startswith("interrupted at epoch"), bars[-1]
        assert any("image/png" in m["content"]["data"] for m in first
                   if m["msg_type"] == "update_display_data")
        assert (tmp_path / "run" / "checkpoint.npz").is_file()

        # the default log (print) in a notebook: the bar, then one line; no line an epoch
        quiet = execute("straight_model, straight_fns, _ = build()\n"
                        "straight_trainer = Trainer(straight_fns, config, model=straight_model)\n"
                        "straight = straight_trainer.run()")
        assert not errors(quiet), errors(quiet)
        printed = text(quiet).splitlines()
        assert len(printed) == 1 and printed[0].startswith("done: 60 epochs"), printed
        assert " log lines: trainer.print_log() prints them)" in printed[0]
        assert any(m["msg_type"] == "display_data" for m in quiet)

        check = execute(
            "print('best', all(numpy.array_equal(p.get_value(), b) "
            "for p, b in zip(fns.params, trainer.best_params)))\n"
            "result = trainer.run(); print('then', result.stopped_by, result.epochs)\n"
            "print('log', straight.log == straight_trainer.log_lines "
            "and sum('validation error' in line for line in straight.log) == 60, "
            "len(straight.log))\n"
            "print('same', straight.best_iteration == result.best_iteration and all("
            "numpy.array_equal(a.get_value(), b.get_value()) "
            "for a, b in zip(fns.params, straight_fns.params)))")
        assert not errors(check), errors(check)
        assert "best True" in text(check)
        assert "then n_epochs 60" in text(check)
        kept = text(check).split("log True ")[1].split()[0]  # the lines the one line counts
        assert "(%s log lines" % kept in printed[0], (kept, printed[0])
        assert "same True" in text(check), text(check)
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
