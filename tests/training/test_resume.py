"""Checkpoints and resume: a resumed run is the uninterrupted run, bit for bit.

The reference is always a straight run of the same length on the same data; the resumed
run starts from a freshly built model (other initial weights) and freshly compiled
functions, so everything it knows comes from the checkpoint file.
"""
import json
import os
import signal
import subprocess
import sys

import numpy
import pytest

import _tiny
import dltut  # noqa: F401  (Theano set-up before anything imports theano)
from _helpers import assert_same_arrays, read_jsonl, without_elapsed
from _processes import CtrlCAt, lines_in, running, stop, wait_for
from dltut.runs import checkpoint as ckpt
from dltut.runs.checkpoint import CheckpointError
from dltut.training import TrainConfig, Trainer, compile_functions, evaluate

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/, _tiny's
RESULT_FIELDS = ("best_validation_loss", "best_validation_loss_all", "best_iteration",
                 "best_epoch", "test_score", "test_score_all", "epochs", "iterations",
                 "stopped_by", "learning_rate")


@pytest.fixture(scope="module")
def data():
    return _tiny.splits(sizes=(300, 100, 100))


def make_config(**kwargs):
    # 15 minibatches an epoch, a validation every 4: validations fall mid-epoch too
    settings = dict(learning_rate=0.1, batch_size=20, n_epochs=4, patience=10 ** 9,
                    validation_frequency=4)
    settings.update(kwargs)
    return TrainConfig(**settings)


def build(data, run_dir, seed=1234, n_hidden=8, with_model=True, log=None, **cfg):
    """A fresh MLP (weights from ``seed``), compiled functions and a Trainer."""
    model, x, y = _tiny.mlp(seed=seed, n_hidden=n_hidden)
    config = make_config(**cfg)
    fns = compile_functions(model, x, y, _tiny.shared(data), config)
    trainer = Trainer(fns, config, model=model if with_model else None,
                      run_dir=None if run_dir is None else str(run_dir), log=log, progress=False)
    return model, fns, trainer


def assert_same_run(result_a, result_b, dir_a, dir_b, model_a, model_b):
    """Two runs are identical: results, history, final/best parameters, optimizer state."""
    for name in RESULT_FIELDS:
        assert getattr(result_a, name) == getattr(result_b, name), name
    assert without_elapsed(result_a.history) == without_elapsed(result_b.history)
    assert without_elapsed(read_jsonl(dir_a / "history.jsonl")) == \
        without_elapsed(read_jsonl(dir_b / "history.jsonl"))
    assert_same_arrays(model_a.get_params_values(), model_b.get_params_values())
    arrays_a, meta_a = ckpt.load_arrays(dir_a / "checkpoint.npz")
    arrays_b, meta_b = ckpt.load_arrays(dir_b / "checkpoint.npz")
    assert sorted(arrays_a) == sorted(arrays_b)
    for name in arrays_a:  # last parameters, velocities, best parameters
        assert_same_arrays([arrays_a[name]], [arrays_b[name]])
    for key in ("patience", "schedule"):
        assert meta_a[key] == meta_b[key]
    best_a, _ = ckpt.load_params(dir_a / "best_model.npz")
    best_b, _ = ckpt.load_params(dir_b / "best_model.npz")
    assert_same_arrays(best_a, best_b)


SETTINGS = {
    "sgd": {},
    "momentum": {"momentum": 0.9},
    "plateau+momentum": {"schedule": "plateau", "plateau_n": 1, "momentum": 0.5},
}


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def straight(request, data, tmp_path_factory):
    """The reference: 4 epochs in one go."""
    settings = SETTINGS[request.param]
    run_dir = tmp_path_factory.mktemp("straight")
    model, fns, trainer = build(data, run_dir, **settings)
    result = trainer.run()
    assert result.stopped_by == "n_epochs" and result.epochs == 4
    return settings, run_dir, model, result


def test_resume_after_two_epochs_equals_four_straight(straight, data, tmp_path):
    settings, dir_a, model_a, result_a = straight
    _, _, first = build(data, tmp_path, n_epochs=2, **settings)
    half = first.run()
    assert (half.epochs, half.stopped_by) == (2, "n_epochs")
    model_b, fns_b, trainer_b = build(data, tmp_path, seed=99, n_epochs=4, **settings)
    if settings.get("momentum"):
        assert not fns_b.optimizer_state[0].get_value().any()  # fresh velocities are zero
    trainer_b.load_checkpoint(tmp_path / "checkpoint.npz")
    if settings.get("momentum"):
        assert fns_b.optimizer_state[0].get_value().any()      # ... restored from the file
    result_b = trainer_b.run()
    assert result_b.iterations == 4 * 15
    assert_same_run(result_a, result_b, dir_a, tmp_path, model_a, model_b)

    # resuming the finished run again trains nothing and hands back the best parameters
    model_b.set_params_values([numpy.zeros_like(v) for v in model_b.get_params_values()])
    lines = []
    again = Trainer(fns_b, trainer_b.config, model=model_b, run_dir=str(tmp_path),
                    log=lines.append, progress=False)
    again.load_checkpoint(tmp_path / "checkpoint.npz")
    result_c = again.run()
    assert any("already finished" in line for line in lines), lines
    for name in RESULT_FIELDS:
        assert getattr(result_a, name) == getattr(result_c, name), name
    assert_same_arrays(model_a.get_params_values(), model_b.get_params_values())


def test_mid_epoch_checkpoints_resume_to_the_same_run(straight, data, tmp_path):
    """Time-based checkpoints inside an epoch (here after every minibatch): resuming from
    one in the middle of epoch 1, or of epoch 3, walks the straight run's path exactly."""
    settings, dir_a, model_a, result_a = straight
    _, _, trainer = build(data, tmp_path / "a", **settings)
    trainer.checkpoint_seconds = 1e-9
    saved = {}
    save = trainer.run_dir.save_checkpoint

    def keep(state, meta=None):
        path = save(state, meta)
        saved[(state["state"]["epoch"], state["state"]["minibatch_index"])] = \
            open(path, "rb").read()
        return path
    trainer.run_dir.save_checkpoint = keep
    trainer.run()
    assert (1, 7) in saved and (3, 11) in saved and (2, 0) in saved, sorted(saved)
    for epoch, index in ((1, 7), (3, 11)):
        folder = tmp_path / ("from-%d-%d" % (epoch, index))
        folder.mkdir()
        (folder / "checkpoint.npz").write_bytes(saved[(epoch, index)])
        model_b, _, trainer_b = build(data, folder, seed=99, **settings)
        trainer_b.load_checkpoint()
        assert (trainer_b.state.epoch, trainer_b.state.minibatch_index) == (epoch, index)
        result_b = trainer_b.run()
        assert_same_run(result_a, result_b, dir_a, folder, model_a, model_b)


def test_state_dict_round_trip(one_epoch, data):
    model, fns, trainer = one_epoch
    state = trainer.state_dict()
    model_b, fns_b, fresh = build(data, None, seed=42)
    fresh.load_state(state)
    assert fresh.state == trainer.state
    assert fresh.patience.state_dict() == trainer.patience.state_dict()
    assert fresh.schedule.state_dict() == trainer.schedule.state_dict()
    assert fresh.history == trainer.history
    assert_same_arrays(model_b.get_params_values(), model.get_params_values())
    assert_same_arrays(fresh.best_params, trainer.best_params)
    # a damaged state changes nothing
    broken = dict(state, state=dict(state["state"], epoch="one"))
    other_model, _, other = build(data, None, seed=43)
    before = other_model.get_params_values()
    with pytest.raises(CheckpointError, match="epoch must be an integer"):
        other.load_state(broken)
    assert_same_arrays(other_model.get_params_values(), before)
    assert other.state.epoch == 0


def test_interrupted_mid_epoch_in_process_resumes_to_the_same_run(straight, data, tmp_path):
    settings, dir_a, model_a, result_a = straight
    # validations at iterations 4, 8, 12, 16, 20: the 5th is epoch 2, minibatch 5 of 15
    lines = []
    log = CtrlCAt(5, counts=lambda line: "validation error" in line).wrap(lines.append)
    _, fns, first = build(data, tmp_path, log=log, **settings)
    partial = first.run()
    assert partial.interrupted and partial.stopped_by == "interrupted"
    assert partial.iterations == 20 and partial.epochs == 2
    assert any("resume" in line for line in lines), lines
    _, meta = ckpt.load_arrays(tmp_path / "checkpoint.npz")
    assert (meta["state"]["epoch"], meta["state"]["minibatch_index"]) == (2, 5)
    model_b, _, trainer_b = build(data, tmp_path, seed=7, **settings)
    trainer_b.load_checkpoint(tmp_path / "checkpoint.npz")
    result_b = trainer_b.run()
    assert_same_run(result_a, result_b, dir_a, tmp_path, model_a, model_b)


# ------------------------------------------------------------------ a real Ctrl-C
SCRIPT = """
import sys
sys.path.insert(0, {tests_dir!r})
import _tiny
from dltut.training import TrainConfig, Trainer, compile_functions

model, x, y = _tiny.mlp(seed=5)
config = TrainConfig(learning_rate=0.05, batch_size=1, n_epochs=100000, patience=10 ** 9)
fns = compile_functions(model, x, y, _tiny.shared(_tiny.splits(sizes=(300, 50, 50))), config)
trainer = Trainer(fns, config, model=model, run_dir={run_dir!r},
                  log=lambda line: print(line, flush=True), progress=False)
result = trainer.run()
print("stopped by", result.stopped_by, flush=True)
sys.exit(130 if result.interrupted else 0)
"""


def tiny_online(run_dir, seed, n_epochs):
    model, x, y = _tiny.mlp(seed=seed)
    config = TrainConfig(learning_rate=0.05, batch_size=1, n_epochs=n_epochs, patience=10 ** 9)
    fns = compile_functions(model, x, y, _tiny.shared(_tiny.splits(sizes=(300, 50, 50))), config)
    return model, Trainer(fns, config, model=model, run_dir=str(run_dir), log=None, progress=False)


def test_sigint_to_a_training_process_then_resume(tmp_path):
    run_dir = tmp_path / "run"
    script = tmp_path / "train_tiny.py"
    script.write_text(SCRIPT.format(tests_dir=TESTS_DIR, run_dir=str(run_dir)))
    history = run_dir / "history.jsonl"
    with running([sys.executable, script], cwd=tmp_path, stdout=subprocess.PIPE,
                 stderr=subprocess.STDOUT) as process:
        wait_for(process, lambda: lines_in(history) >= 3, 120, "3 history records", poll=0.01)
        output, _ = stop(process, signal.SIGINT, timeout=60)
    assert process.returncode == 130, output
    assert "stopped by interrupted" in output
    assert "resume" in output and str(run_dir) in output
    assert not [name for name in os.listdir(run_dir) if name.endswith(".tmp")]
    arrays, meta = ckpt.load_arrays(run_dir / "checkpoint.npz")
    state = meta["state"]
    assert state["stopped_by"] == "interrupted"
    assert state["iterations"] == (state["epoch"] - 1) * 300 + (state["minibatch_index"] or 300)
    assert len(meta["history"]) >= 3

    total = state["epoch"] + 1  # finish the interrupted epoch and one more
    model_b, resumed = tiny_online(run_dir, seed=11, n_epochs=total)
    resumed.load_checkpoint(run_dir / "checkpoint.npz")
    result_b = resumed.run()
    model_a, straight = tiny_online(tmp_path / "straight", seed=5, n_epochs=total)
    result_a = straight.run()
    assert (result_a.epochs, result_a.iterations) == (total, total * 300)
    assert_same_run(result_a, result_b, tmp_path / "straight", run_dir, model_a, model_b)


# ------------------------------------------------------------------ atomic writes
@pytest.fixture
def one_epoch(data, tmp_path):
    """A trainer that has run one epoch with tmp_path as its run folder."""
    model, fns, trainer = build(data, tmp_path, n_epochs=1)
    trainer.run()
    return model, fns, trainer


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_save_leaves_the_previous_checkpoint(failing, one_epoch, tmp_path, monkeypatch):
    model, fns, trainer = one_epoch
    path = tmp_path / "checkpoint.npz"
    before = path.read_bytes()
    listing = sorted(os.listdir(tmp_path))
    for _ in range(3):  # the parameters move on ...
        fns.train_model(0)

    def boom(*args, **kwargs):
        raise OSError("simulated failure in os.%s" % failing)

    monkeypatch.setattr(ckpt.os, failing, boom)
    with pytest.raises(OSError, match="simulated"):
        trainer.save_checkpoint()  # ... but saving them fails half-way
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == listing  # no temporary file left behind
    arrays, meta = ckpt.load_arrays(path)
    assert meta["state"]["epoch"] == 1
    # and a save that works replaces it
    trainer.save_checkpoint()
    assert path.read_bytes() != before
    assert_same_arrays(ckpt.unnumbered(ckpt.load_arrays(path)[0], "param"),
                       model.get_params_values())


# ------------------------------------------------------------------ bad files
def corruptions(good):
    half = len(good) // 2
    flipped = bytearray(good)
    for i in range(half, half + 16):
        flipped[i] ^= 0xFF
    return {
        "garbage": b"this is not a checkpoint at all\n" * 10,
        "empty": b"",
        "zip magic then junk": b"PK\x03\x04" + os.urandom(200),
        "truncated to half": good[:half],
        "truncated by one byte": good[:-1],
        "first 100 bytes": good[:100],
        "bytes flipped in the middle": bytes(flipped),
    }


def test_corrupt_checkpoint_raises_checkpoint_error_naming_the_path(one_epoch, data, tmp_path):
    good = (tmp_path / "checkpoint.npz").read_bytes()
    model, _, trainer = build(data, None)
    fresh = model.get_params_values()
    for name, content in corruptions(good).items():
        bad = tmp_path / ("bad_%s.npz" % name.replace(" ", "_"))
        bad.write_bytes(content)
        with pytest.raises(CheckpointError) as error:
            trainer.load_checkpoint(bad)
        assert str(bad) in str(error.value), name
        assert_same_arrays(model.get_params_values(), fresh)
    with pytest.raises(CheckpointError, match="no parameter file"):
        trainer.load_checkpoint(tmp_path / "missing.npz")
    trainer.load_checkpoint(tmp_path / "checkpoint.npz")  # the good file still loads


def test_checkpoint_of_another_model_shape_is_refused(one_epoch, data, tmp_path):
    path = tmp_path / "checkpoint.npz"
    _, _, trainer = build(data, None, n_hidden=5)
    with pytest.raises(CheckpointError, match=r"n_hidden.*\[8\].*\[5\]"):
        trainer.load_checkpoint(path)
    # without a model spec to compare, the parameter shapes are compared
    model, _, trainer = build(data, None, n_hidden=5, with_model=False)
    fresh = model.get_params_values()
    with pytest.raises(CheckpointError, match=r"\(16, 8\).*\(16, 5\)") as error:
        trainer.load_checkpoint(path)
    assert str(path) in str(error.value)
    assert_same_arrays(model.get_params_values(), fresh)  # nothing was half-loaded


def test_checkpoint_with_another_dtype_is_refused(one_epoch, data, tmp_path):
    arrays, meta = ckpt.load_arrays(tmp_path / "checkpoint.npz")
    other = numpy.float64 if arrays["param_000"].dtype == numpy.float32 else numpy.float32
    arrays["param_000"] = arrays["param_000"].astype(other)
    ckpt.save_arrays(tmp_path / "other_dtype.npz", arrays, meta)
    _, _, trainer = build(data, None)
    with pytest.raises(CheckpointError, match=numpy.dtype(other).name):
        trainer.load_checkpoint(tmp_path / "other_dtype.npz")


@pytest.mark.parametrize("change, pattern", [
    ({"learning_rate": 0.2}, r"learning_rate=0\.1 \(now 0\.2\)"),
    ({"momentum": 0.9}, r"momentum=0\.0 \(now 0\.9\)"),
    ({"batch_size": 30}, r"batch_size=20 \(now 30\)"),
])
def test_resume_with_other_settings_is_refused(change, pattern, one_epoch, data, tmp_path):
    _, _, trainer = build(data, None, **change)
    with pytest.raises(CheckpointError, match=pattern):
        trainer.load_checkpoint(tmp_path / "checkpoint.npz")
    # only n_epochs may change
    build(data, None, n_epochs=9)[2].load_checkpoint(tmp_path / "checkpoint.npz")


def test_a_best_model_file_is_not_a_training_checkpoint(one_epoch, data, tmp_path):
    with pytest.raises(CheckpointError, match="not a dltut training checkpoint"):
        build(data, None)[2].load_checkpoint(tmp_path / "best_model.npz")


def test_loading_a_checkpoint_rewrites_the_history_file(data, tmp_path):
    _, _, first = build(data, tmp_path, n_epochs=2)
    first.run()
    history = tmp_path / "history.jsonl"
    saved = history.read_text()
    # a crash after the checkpoint: training went on and appended validations
    with open(history, "a") as handle:
        handle.write(json.dumps({"iteration": 999}) + "\n")
    _, _, trainer = build(data, tmp_path, n_epochs=3)
    trainer.load_checkpoint(tmp_path / "checkpoint.npz")
    assert history.read_text() == saved


# ------------------------------------------------------------------ best_model.npz
def test_best_model_file_reproduces_the_best_validation_error(data, tmp_path):
    model, fns, trainer = build(data, tmp_path, n_epochs=6)
    result = trainer.run()
    fresh, fresh_fns, _ = build(data, None, seed=4321)
    before = evaluate(fresh_fns, "valid")
    meta = ckpt.load_into(fresh, tmp_path / "best_model.npz")
    assert_same_arrays(fresh.get_params_values(), model.get_params_values())
    assert evaluate(fresh_fns, "valid") == (result.best_validation_loss,
                                            result.best_validation_loss_all)
    assert evaluate(fresh_fns, "test") == (result.test_score, result.test_score_all)
    assert evaluate(fresh_fns, "valid") != before
    assert meta["validation_error"] == result.best_validation_loss
    assert meta["iteration"] == result.best_iteration
    assert meta["model"] == model.spec()
    x_valid, y_valid = data[1]
    assert _tiny.error_rate(fresh.get_params_values(), x_valid, y_valid) == pytest.approx(
        result.best_validation_loss_all, abs=1e-12)
    # a model of another shape does not take it
    other, _, _ = build(data, None, n_hidden=5)
    with pytest.raises(CheckpointError, match=r"best_model\.npz"):
        ckpt.load_into(other, tmp_path / "best_model.npz")
