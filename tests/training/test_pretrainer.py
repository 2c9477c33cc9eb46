"""The one unsupervised (layer-wise pre-training) loop, dltut.training.Pretrainer.

The model here is a made-up two-layer stack of small denoising layers (squared-error
reconstruction, masking noise from MRG_RandomStreams), built in this file so that the loop
is tested on its own: the second layer is fed by the first, both draw from one random
stream, and a resume must restore parameters *and* random states to continue bit for bit.
The reference is always a straight run of the same length; a resumed run starts from a
freshly built stack (other initial weights, other random seed), so everything it knows
comes from the checkpoint file.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy
import pytest

import _tiny
import dltut  # noqa: F401  (Theano set-up before anything imports theano)
from _helpers import assert_same_arrays, read_jsonl, without_elapsed
from _processes import CtrlCAt, lines_in, running, stop, wait_for
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams

from dltut.data import shared_dataset
from dltut.runs import checkpoint as ckpt
from dltut.runs import rundir
from dltut.runs.checkpoint import CheckpointError
from dltut.training import (PretrainLayer, Pretrainer, PretrainState, updated_shared_variables)

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)  # tests/: _tiny, _helpers
BATCH = 20
N_TRAIN = 160          # 8 minibatches an epoch
SIZES = (16, 8, 4)     # input, first layer, second layer


def floatX(value):
    return numpy.asarray(value, dtype=theano.config.floatX)


def stack(seed=7, n_train=N_TRAIN, lr=0.05, corruption=0.3, sizes=SIZES):
    """``(layers, params)``: one PretrainLayer per layer of a small denoising stack."""
    x_values, _ = _tiny.blobs(n_train, seed=3)
    train_x, _ = shared_dataset(x_values, numpy.zeros(n_train, dtype="int64"))
    rng = numpy.random.RandomState(seed)
    theano_rng = MRG_RandomStreams(rng.randint(2 ** 30))
    x, index = T.matrix("x"), T.lscalar("index")
    rate = theano.shared(floatX(lr), name="lr")  # shared: every test reuses the compiled code
    layers, params, layer_input = [], [], x
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        W = theano.shared(floatX(rng.uniform(-0.5, 0.5, (n_in, n_out))), name="W%d" % i)
        b = theano.shared(floatX(numpy.zeros(n_out)), name="b%d" % i)
        c = theano.shared(floatX(numpy.zeros(n_in)), name="c%d" % i)
        mask = theano_rng.binomial(size=layer_input.shape, n=1, p=1 - corruption,
                                   dtype=theano.config.floatX)
        hidden = T.nnet.sigmoid(T.dot(mask * layer_input, W) + b)
        z = T.dot(hidden, W.T) + c
        cost = T.mean(T.sum((z - layer_input) ** 2, axis=1))
        updates = [(p, p - rate * g) for p, g in zip([W, b, c], T.grad(cost, [W, b, c]))]
        fn = theano.function([index], cost, updates=updates,
                             givens={x: train_x[index * BATCH:(index + 1) * BATCH]})
        random_state = [v for v in updated_shared_variables(fn) if v not in (W, b, c)]
        layers.append(PretrainLayer("layer %d" % i, fn, [W, b, c], state=random_state))
        params += [W, b, c]
        layer_input = T.nnet.sigmoid(T.dot(layer_input, W) + b)
    return layers, params


def pretrainer(run_dir=None, seed=7, n_epochs=3, log=None, **kwargs):
    layers, params = stack(seed=seed)
    trainer = Pretrainer(layers, N_TRAIN // BATCH, n_epochs, run_dir=run_dir, log=log,
                         progress=False, **kwargs)
    return trainer, params


def values(shared):
    return [v.get_value() for v in shared]


def assert_same_run(trainer_a, result_a, dir_a, trainer_b, result_b, dir_b):
    """Two runs are identical: results, records, every shared variable, layer files."""
    for name in ("layers", "epochs", "iterations", "stopped_by", "last"):
        assert getattr(result_a, name) == getattr(result_b, name), name
    assert without_elapsed(result_a.history) == without_elapsed(result_b.history)
    assert_same_arrays(values(trainer_a.shared), values(trainer_b.shared))
    if dir_a is not None:
        assert without_elapsed(read_jsonl(dir_a / rundir.PRETRAINING_HISTORY)) == \
            without_elapsed(read_jsonl(dir_b / rundir.PRETRAINING_HISTORY))
        for index in range(len(trainer_a.layers)):
            a, _ = ckpt.load_params(dir_a / rundir.layer_file(index))
            b, _ = ckpt.load_params(dir_b / rundir.layer_file(index))
            assert_same_arrays(a, b)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The reference: both layers, 3 epochs each, in one go."""
    run_dir = tmp_path_factory.mktemp("straight")
    lines = []
    trainer, params = pretrainer(run_dir, log=lines.append)
    result = trainer.run()
    assert result.stopped_by == "n_epochs" and result.epochs == [3, 3]
    assert result.iterations == 2 * 3 * 8
    return trainer, result, run_dir, lines


# ------------------------------------------------------------------ what the loop does
def test_the_loop_calls_every_layer_epoch_and_minibatch_in_order():
    calls = []

    def recorder(name):
        def train_fn(index):
            calls.append((name, index))
            return numpy.float32(index)
        return train_fn
    shared = theano.shared(floatX(numpy.zeros(2)), name="p")
    lines = []
    trainer = Pretrainer([("a", recorder("a"), [shared]), ("b", recorder("b"), [shared])],
                         n_batches=3, n_epochs=2, log=lines.append, progress=False)
    result = trainer.run()
    assert calls == [(name, i) for name in "ab" for _ in range(2) for i in range(3)]
    assert lines == ["Pre-training layer %d, epoch %d, cost 1.000000" % (layer, epoch)
                     for layer in (0, 1) for epoch in (0, 1)]
    assert [(r["layer"], r["name"], r["epoch"], r["iteration"], r["cost"])
            for r in result.history] == [(0, "a", 1, 3, 1.0), (0, "a", 2, 6, 1.0),
                                         (1, "b", 1, 9, 1.0), (1, "b", 2, 12, 1.0)]
    assert trainer.shared == [shared]  # a variable two layers share is held once
    assert result.epochs == [2, 2] and result.last == [{"cost": 1.0}, {"cost": 1.0}]


def test_epoch_means_are_the_tutorials_float64_means_of_the_minibatch_costs():
    costs = numpy.random.RandomState(0).uniform(50, 100, size=37).astype(numpy.float32)
    lines = []
    layer = PretrainLayer("dA", lambda i: costs[i], [theano.shared(floatX(0.0))],
                          log_format="Training epoch {epoch}, cost {cost}")
    result = Pretrainer([layer], n_batches=37, n_epochs=1, log=lines.append,
                        progress=False).run()
    expected = numpy.mean(list(costs), dtype="float64")   # the tutorial's numpy.mean(c, dtype='float64')
    assert result.history[0]["cost"] == float(expected)
    assert lines == ["Training epoch 0, cost %s" % float(expected)]


def test_several_outputs_and_a_summary_of_them():
    outputs = numpy.array([[1.0, 4.0], [3.0, 16.0]], dtype=numpy.float32)
    layer = PretrainLayer(
        "cA", lambda i: list(outputs[i]), [theano.shared(floatX(0.0))],
        outputs=("reconstruction_cost", "L_jacob"),
        summarize=lambda c: {"reconstruction_cost": c[:, 0].mean(dtype="float64"),
                             "jacobian_norm": numpy.sqrt(c[:, 1]).mean(dtype="float64")},
        log_format="Training epoch {epoch}, reconstruction cost {reconstruction_cost:f} "
                   "jacobian norm {jacobian_norm:f}")
    lines = []
    Pretrainer([layer], n_batches=2, n_epochs=1, log=lines.append, progress=False).run()
    assert lines == ["Training epoch 0, reconstruction cost 2.000000 jacobian norm 3.000000"]


def test_bad_layers_are_refused_with_their_names():
    shared = theano.shared(floatX(0.0), name="p")
    with pytest.raises(ValueError, match="callable"):
        PretrainLayer("a", "not a function", [shared])
    with pytest.raises(ValueError, match="shared variables.*numpy"):
        PretrainLayer("a", lambda i: 0.0, [numpy.zeros(2)])
    with pytest.raises(ValueError, match="log_format.*costs.*not one of"):
        PretrainLayer("a", lambda i: 0.0, [shared], log_format="{costs}")
    with pytest.raises(ValueError, match="names must differ"):
        Pretrainer([("a", lambda i: 0.0, [shared])] * 2, n_batches=1, n_epochs=1)
    with pytest.raises(ValueError, match="n_batches must be a positive integer, got 0"):
        Pretrainer([("a", lambda i: 0.0, [shared])], n_batches=0, n_epochs=1)


def test_updated_shared_variables_lists_params_and_the_random_state():
    layers, params = stack()
    found = updated_shared_variables(layers[0].train_fn)
    assert [v for v in found if v in params[:3]] == [v for v in params[:3] if v in found]
    assert set(map(id, params[:3])) <= set(map(id, found))
    randoms = [v for v in found if v not in params]
    assert len(randoms) == 1 and randoms[0].get_value().dtype == numpy.int32  # MRG state
    assert layers[0].state == randoms
    with pytest.raises(ValueError, match="not a compiled Theano function"):
        updated_shared_variables(lambda index: 0.0)


def test_the_run_folder_gets_records_layer_files_and_a_checkpoint(straight):
    trainer, result, run_dir, lines = straight
    assert lines[0].startswith("Pre-training layer 0, epoch 0, cost ")
    assert lines[-1].startswith("Pre-training layer 1, epoch 2, cost ")
    records = read_jsonl(run_dir / rundir.PRETRAINING_HISTORY)
    assert without_elapsed(records) == without_elapsed(result.history)
    assert [(r["layer"], r["epoch"]) for r in records] == [(0, 1), (0, 2), (0, 3),
                                                           (1, 1), (1, 2), (1, 3)]
    for index, layer in enumerate(trainer.layers):
        saved, meta = ckpt.load_params(run_dir / rundir.layer_file(index))
        assert_same_arrays(saved, values(layer.params))
        assert meta["name"] == layer.name and meta["epochs"] == 3
    state, _ = ckpt.load_checkpoint(run_dir / rundir.PRETRAINING_CHECKPOINT)
    assert state["state"]["layer"] == 2 and state["state"]["stopped_by"] == "n_epochs"
    assert_same_arrays(state["shared"], values(trainer.shared))
    assert rundir.RunDir(run_dir).layers() == [(0, rundir.layer_file(0)),
                                              (1, rundir.layer_file(1))]


# ------------------------------------------------------------------ exact resume
def keep_checkpoints(trainer):
    """``{(layer, epoch, minibatch_index): bytes}`` of every checkpoint ``trainer`` writes."""
    saved = {}
    save = trainer.run_dir.save_checkpoint

    def keep(state, meta=None, name=rundir.CHECKPOINT):
        path = save(state, meta, name=name)
        key = (state["state"]["layer"], state["state"]["epoch"], state["state"]["minibatch_index"])
        saved[key] = open(path, "rb").read()
        return path
    trainer.run_dir.save_checkpoint = keep
    return saved


def test_resume_between_layers_equals_the_straight_run(straight, tmp_path):
    trainer_a, result_a, dir_a, _ = straight
    # stop after layer 0: a run with one layer in its list cannot do that; instead the
    # checkpoint written when layer 0 finished is resumed
    first, _ = pretrainer(tmp_path)
    saved = keep_checkpoints(first)
    first.run()
    assert (1, 0, 0) in saved and (0, 2, 0) in saved, sorted(saved)
    for key in ((1, 0, 0), (0, 2, 0)):
        folder = tmp_path / ("from-%d-%d-%d" % key)
        folder.mkdir()
        (folder / rundir.PRETRAINING_CHECKPOINT).write_bytes(saved[key])
        if key[0] == 1:  # the layer file written before that checkpoint
            (folder / rundir.LAYERS).mkdir()
            (folder / rundir.layer_file(0)).write_bytes((tmp_path / rundir.layer_file(0)).read_bytes())
        trainer_b, _ = pretrainer(folder, seed=99)
        trainer_b.load_checkpoint()
        assert (trainer_b.state.layer, trainer_b.state.epoch) == key[:2]
        result_b = trainer_b.run()
        assert_same_run(trainer_a, result_a, dir_a, trainer_b, result_b, folder)


def test_mid_epoch_checkpoints_resume_to_the_same_run(straight, tmp_path):
    """A checkpoint after every minibatch; resuming from one in the middle of an epoch of
    the first layer, or of the second, walks the straight run's path exactly."""
    trainer_a, result_a, dir_a, _ = straight
    first, _ = pretrainer(tmp_path / "a", checkpoint_seconds=1e-9)
    saved = keep_checkpoints(first)
    first.run()
    for key in ((0, 0, 3), (0, 2, 7), (1, 1, 5)):
        assert key in saved, sorted(saved)
        folder = tmp_path / ("from-%d-%d-%d" % key)
        folder.mkdir()
        (folder / rundir.PRETRAINING_CHECKPOINT).write_bytes(saved[key])
        if key[0] == 1:
            (folder / rundir.LAYERS).mkdir()
            (folder / rundir.layer_file(0)).write_bytes(
                (tmp_path / "a" / rundir.layer_file(0)).read_bytes())
        trainer_b, _ = pretrainer(folder, seed=99)
        trainer_b.load_checkpoint()
        assert len(trainer_b.costs) == key[2]
        result_b = trainer_b.run()
        assert_same_run(trainer_a, result_a, dir_a, trainer_b, result_b, folder)


def test_a_resume_without_the_random_state_would_not_be_exact(straight, tmp_path):
    """The check above can fail: restore everything but the random stream's state and the
    continued run walks another path."""
    trainer_a, result_a, _, _ = straight
    first, _ = pretrainer(tmp_path, n_epochs=3)
    first.checkpoint_seconds = 1e-9
    state = None
    save = first.save_checkpoint

    def stop_in_epoch_2(path=None):
        nonlocal state
        if first.state.layer == 0 and first.state.epoch == 1 and first.state.minibatch_index == 4:
            state = {k: (list(v) if k == "shared" else v) for k, v in first.state_dict().items()}
            state["shared"] = [numpy.array(v) for v in state["shared"]]
        return save(path)
    first.save_checkpoint = stop_in_epoch_2
    first.run()
    trainer_b, _ = pretrainer(None, seed=99)
    trainer_b.load_state(state)
    random_states = trainer_b.layers[0].state
    for variable in random_states:  # forget where the stream was
        fresh = MRG_RandomStreams(12345).get_substream_rstates(
            variable.get_value().shape[0], "float32")
        variable.set_value(numpy.asarray(fresh, dtype=numpy.int32))
    result_b = trainer_b.run()
    assert without_elapsed(result_b.history) != without_elapsed(result_a.history)


def test_interrupted_in_process_then_resumed(straight, tmp_path):
    trainer_a, result_a, dir_a, _ = straight
    lines = []
    log = CtrlCAt(4).wrap(lines.append)  # layer 1, epoch 0 done: interrupt during its epoch 1
    first, _ = pretrainer(tmp_path, log=log)
    partial = first.run()
    assert partial.interrupted and partial.epochs == [3, 1]
    assert any("resume with --resume %s" % tmp_path in line for line in lines), lines
    _, meta = ckpt.load_arrays(tmp_path / rundir.PRETRAINING_CHECKPOINT)
    assert (meta["state"]["layer"], meta["state"]["epoch"], meta["state"]["minibatch_index"]) \
        == (1, 1, 1)
    trainer_b, _ = pretrainer(tmp_path, seed=99)
    trainer_b.load_checkpoint()
    result_b = trainer_b.run()
    assert_same_run(trainer_a, result_a, dir_a, trainer_b, result_b, tmp_path)
    # a finished run has nothing left to do
    again, _ = pretrainer(tmp_path, seed=5, log=lines.append)
    again.load_checkpoint()
    assert again.run().stopped_by == "n_epochs" and "already finished" in lines[-1]
    assert_same_arrays(values(again.shared), values(trainer_a.shared))


# ------------------------------------------------------------------ a real Ctrl-C, a kill -9
SCRIPT = """
import sys
sys.path[:0] = [{tests_dir!r}, {here!r}]
import test_pretrainer
from dltut.training import Pretrainer

layers, _ = test_pretrainer.stack(n_train={n_train})
trainer = Pretrainer(layers, {n_train} // test_pretrainer.BATCH, {n_epochs}, run_dir={run_dir!r},
                     log=lambda line: print(line, flush=True), progress=False,
                     checkpoint_seconds={every})
result = trainer.run()
print("stopped by", result.stopped_by, flush=True)
sys.exit(130 if result.interrupted else 0)
"""
LONG = dict(n_train=2000, n_epochs=30)  # 100 minibatches an epoch: signals land mid-epoch


def long_run(run_dir, seed=7):
    layers, _ = stack(seed=seed, n_train=LONG["n_train"])
    return Pretrainer(layers, LONG["n_train"] // BATCH, LONG["n_epochs"], run_dir=run_dir,
                      log=None, progress=False)


def start_script(tmp_path, run_dir, every):
    script = tmp_path / "pretrain_tiny.py"
    script.write_text(SCRIPT.format(tests_dir=TESTS_DIR, here=HERE, run_dir=str(run_dir),
                                    every=every, **LONG))
    return running([sys.executable, script], cwd=tmp_path, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)


def wait_for_records(process, run_dir, n):
    history = run_dir / rundir.PRETRAINING_HISTORY
    wait_for(process, lambda: lines_in(history) >= n, 180, "%d records" % n, poll=0.005)


@pytest.fixture(scope="module")
def long_straight(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("long")
    trainer = long_run(run_dir)
    return trainer, trainer.run(), run_dir


def test_kill_9_mid_epoch_then_resume_is_bit_exact(long_straight, tmp_path):
    """A process killed outright (no chance to write anything) continues from its last
    timed checkpoint, in the middle of an epoch of the second layer, to the straight run's
    end.  (A Ctrl-C, which writes a checkpoint first, is test_interrupted_in_process...)"""
    trainer_a, result_a, dir_a = long_straight
    run_dir = tmp_path / "run"
    with start_script(tmp_path, run_dir, every=0.02) as process:
        wait_for_records(process, run_dir, 31)  # into layer 1
        time.sleep(0.05)
        output, _ = stop(process, signal.SIGKILL, timeout=60)
    assert process.returncode == -signal.SIGKILL, output
    state, _ = ckpt.load_checkpoint(run_dir / rundir.PRETRAINING_CHECKPOINT)
    where = (state["state"]["layer"], state["state"]["epoch"], state["state"]["minibatch_index"])
    assert where[0] == 1 and where < (2, 0, 0), where
    trainer_b = long_run(run_dir, seed=99)
    trainer_b.load_checkpoint()
    result_b = trainer_b.run()
    assert result_b.iterations == result_a.iterations == 2 * 30 * 100
    assert_same_run(trainer_a, result_a, dir_a, trainer_b, result_b, run_dir)


# ------------------------------------------------------------------ checks on resume
@pytest.fixture
def two_epochs(tmp_path):
    trainer, _ = pretrainer(tmp_path, n_epochs=2)
    trainer.run()
    state, _ = ckpt.load_checkpoint(tmp_path / rundir.PRETRAINING_CHECKPOINT)
    return state


def test_a_checkpoint_of_other_layers_or_shapes_is_refused(two_epochs):
    trainer, params = pretrainer(n_epochs=2)
    before = values(trainer.shared)
    broken = dict(two_epochs, config=dict(two_epochs["config"], n_batches=9))
    with pytest.raises(CheckpointError, match="n_batches = 9"):
        trainer.load_state(broken)
    wrong = dict(two_epochs, shared=[numpy.zeros((3, 3), dtype=v.dtype)
                                     for v in two_epochs["shared"]])
    with pytest.raises(CheckpointError, match=r"W0 is \(3, 3\).*\(16, 8\)"):
        trainer.load_state(wrong)
    nan = [numpy.array(v) for v in two_epochs["shared"]]
    nan[0][0, 0] = numpy.nan
    with pytest.raises(CheckpointError, match="W0 holds NaN"):
        trainer.load_state(dict(two_epochs, shared=nan))
    damaged = dict(two_epochs, state=dict(two_epochs["state"], epoch="two"))
    with pytest.raises(CheckpointError, match="epoch must be an integer"):
        trainer.load_state(damaged)
    assert_same_arrays(values(trainer.shared), before)  # nothing was half-loaded
    assert trainer.state == PretrainState()


def test_n_epochs_may_change_only_before_a_layer_has_finished(two_epochs, tmp_path):
    trainer, _ = pretrainer(n_epochs=3)
    with pytest.raises(CheckpointError, match="2 epochs each.*same number of epochs"):
        trainer.load_state(two_epochs)  # both layers are done: layer 0 cannot get a third
    # a one-layer run can be trained further; the epochs done stay done
    layers, _ = stack()
    one = Pretrainer(layers[:1], 8, 2, run_dir=tmp_path / "one", log=None, progress=False)
    one.run()
    state, _ = ckpt.load_checkpoint(tmp_path / "one" / rundir.PRETRAINING_CHECKPOINT)
    longer = Pretrainer(stack(seed=3)[0][:1], 8, 4, log=None, progress=False)
    longer.load_state(state)
    assert (longer.state.layer, longer.state.epoch) == (0, 2)
    result = longer.run()
    assert result.epochs == [4] and [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    shorter = Pretrainer(stack(seed=3)[0][:1], 8, 1, log=None, progress=False)
    with pytest.raises(CheckpointError, match="2 epochs are done already"):
        shorter.load_state(state)


def test_a_diverging_layer_stops_and_writes_nothing_non_finite(tmp_path):
    layers, params = stack(lr=1e6)
    lines = []
    trainer = Pretrainer(layers, 8, 3, run_dir=tmp_path, log=lines.append, progress=False,
                         checkpoint_seconds=1e-9)
    result = trainer.run()
    assert result.diverged and "layer 0" in result.divergence, result.divergence
    if (tmp_path / rundir.PRETRAINING_CHECKPOINT).exists():
        state, _ = ckpt.load_checkpoint(tmp_path / rundir.PRETRAINING_CHECKPOINT)
        assert all(numpy.isfinite(v).all() for v in state["shared"])


def test_the_history_file_is_rewritten_from_the_checkpoint(two_epochs, tmp_path):
    history = tmp_path / rundir.PRETRAINING_HISTORY
    saved = history.read_text()
    with open(str(history), "a") as handle:  # a crash after the checkpoint left a record
        handle.write(json.dumps({"layer": 1, "epoch": 3}) + "\n")
    trainer, _ = pretrainer(tmp_path, n_epochs=2, seed=1)
    trainer.load_checkpoint()
    assert history.read_text() == saved
