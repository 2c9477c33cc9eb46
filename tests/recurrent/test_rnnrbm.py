"""The RNN-RBM (dltut.recurrent.rnnrbm) and its data (dltut.datasets.jsb) against independent
references.

* a numpy forward pass of the recurrence (u_t, bv_t, bh_t) for given weights, and the cost
  for a given negative sample computed from it;
* the RBM free energy against exact enumeration of the hidden states (4 visible, 3 hidden),
  and exp(-F) normalised against the joint's marginal;
* the gradient of the training cost (negative sample held fixed) against central finite
  differences of a numpy float64 cost;
* the piano-roll builder on a tiny music21 score and a tiny MIDI file made by hand;
* training raising the monitor on a toy sequence; argument and file checks;
* the tutorial code's own numbers (test_first_epochs_print_the_tutorial_codes_numbers).
"""
import hashlib
import io
import itertools
import os
import subprocess
import sys
import textwrap

import dltut  # noqa: F401  (Theano set-up first)
import numpy
import pytest
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams

from dltut.datasets import jsb
from dltut.datasets.formats import DatasetError
from dltut.recurrent import EpochChunks, RnnRbm
from dltut.recurrent.rnnrbm import (build_rbm, check_piano_rolls, free_energy, pitch_range,
                                    rnn_biases)

from _cli import child_env
from _music import toy_chorales
from _helpers import assert_one_error, tolerances, uses_compiled_scan

FLOATX = theano.config.floatX
HERE = os.path.dirname(os.path.abspath(__file__))


def sigmoid(a):
    return 1.0 / (1.0 + numpy.exp(-a))


def small_model(seed=3, scale=0.5, **kwargs):
    """A 6-visible (MIDI 60-65), 5-hidden, 4-recurrent RnnRbm with random weights *and
    biases* (they start at zero; a missing bias term must show) of the given scale."""
    model = RnnRbm(n_hidden=5, n_hidden_recurrent=4, r=(60, 66),
                   numpy_rng=numpy.random.RandomState(seed), **kwargs)
    rng = numpy.random.RandomState(seed + 100)
    model.set_params_values([rng.normal(0.0, scale, p.get_value().shape).astype(FLOATX)
                             for p in model.params])
    return model


def np_recurrence(v, W, bv, bh, Wuh, Wuv, Wvu, Wuu, bu):
    """u_t, bv_t, bh_t of the RNN-RBM for the sequence v (T, n_visible), in float64."""
    u = numpy.zeros(Wuu.shape[0])
    us, bvs, bhs = [], [], []
    for v_t in v:
        bvs.append(bv + u @ Wuv)
        bhs.append(bh + u @ Wuh)
        u = numpy.tanh(bu + v_t @ Wvu + u @ Wuu)
        us.append(u)
    return numpy.array(us), numpy.array(bvs), numpy.array(bhs)


def np_free_energies(v, W, bv, bh):
    """F(v) row by row (biases one per row or shared), float64."""
    return -(v * bv).sum(axis=1) - numpy.logaddexp(0.0, v @ W + bh).sum(axis=1)


def np_cost(params, v, v_neg):
    """(sum F_t(v_t) - sum F_t(v_neg_t)) / T with the biases of the recurrence."""
    W, bv, bh = params[:3]
    _, bv_t, bh_t = np_recurrence(v, *params)
    return (np_free_energies(v, W, bv_t, bh_t).sum()
            - np_free_energies(v_neg, W, bv_t, bh_t).sum()) / len(v)


def all_states(n):
    return numpy.array(list(itertools.product((0.0, 1.0), repeat=n)))


def random_roll(rng, length, width, p=0.3):
    return (rng.uniform(size=(length, width)) < p).astype(FLOATX)


# ------------------------------------------------------------------------------- the model
def test_recurrence_matches_numpy(tol):
    model = small_model()
    v = T.matrix("v")
    u_t, bv_t, bh_t, updates = rnn_biases(v, model.params)
    assert len(updates) == 0
    f = theano.function([v], [u_t, bv_t, bh_t])
    roll = random_roll(numpy.random.RandomState(0), 9, 6)
    got = f(roll)
    want = np_recurrence(roll.astype(numpy.float64), *model.get_params_values())
    for name, a, b in zip(("u_t", "bv_t", "bh_t"), got, want):
        assert a.shape == b.shape, name
        numpy.testing.assert_allclose(a, b, err_msg=name, **tol)
    # the first step's biases are the static ones (u_0 = 0), the later ones are not
    params = model.get_params_values()
    numpy.testing.assert_allclose(got[1][0], params[1], **tol)
    assert not numpy.allclose(got[1][1], params[1])


def test_cost_for_a_given_negative_sample_matches_numpy(tol):
    model = small_model()
    v_neg = T.matrix("v_neg")
    cost = theano.clone(model.cost, replace={model.v_sample: v_neg})
    f = theano.function([model.v, v_neg], cost)
    rng = numpy.random.RandomState(1)
    roll, negative = random_roll(rng, 7, 6), random_roll(rng, 7, 6)
    want = np_cost([p.astype(numpy.float64) for p in model.get_params_values()],
                   roll.astype(numpy.float64), negative.astype(numpy.float64))
    numpy.testing.assert_allclose(f(roll, negative), want, **tol)


def test_free_energy_matches_enumeration_of_the_hidden_units(tol):
    rng = numpy.random.RandomState(5)
    W, bv, bh = rng.normal(0, 1, (4, 3)), rng.normal(0, 0.5, 4), rng.normal(0, 0.5, 3)
    v = T.matrix("v")
    Ws, bvs, bhs = (theano.shared(numpy.asarray(a, dtype=FLOATX)) for a in (W, bv, bh))
    f = theano.function([v], free_energy(v, Ws, bvs, bhs))
    visibles, hiddens = all_states(4), all_states(3)
    # E(v, h) = -v.bv - h.bh - v W h; F(v) = -log sum_h exp(-E(v, h))
    energies = -(visibles @ bv)[:, None] - (hiddens @ bh)[None, :] - visibles @ W @ hiddens.T
    exact = -numpy.log(numpy.exp(-energies).sum(axis=1))
    got = numpy.array([f(row[None, :].astype(FLOATX)) for row in visibles])
    numpy.testing.assert_allclose(got, exact, **tol)
    # free_energy sums over rows: the whole table at once is the sum
    numpy.testing.assert_allclose(f(visibles.astype(FLOATX)), exact.sum(), **tol)
    # exp(-F) normalised is the marginal of the joint
    joint = numpy.exp(-energies) / numpy.exp(-energies).sum()
    marginal = numpy.exp(-got) / numpy.exp(-got).sum()
    numpy.testing.assert_allclose(marginal, joint.sum(axis=1), **tol)


def test_free_energy_with_one_rbm_per_row(tol):
    """The RNN-RBM's per-time-step biases: row t uses bv_t, bh_t."""
    rng = numpy.random.RandomState(6)
    W = rng.normal(0, 1, (4, 3))
    bv_t, bh_t = rng.normal(0, 1, (5, 4)), rng.normal(0, 1, (5, 3))
    roll = random_roll(rng, 5, 4, 0.5)
    v, bv, bh = T.matrix("v"), T.matrix("bv"), T.matrix("bh")
    f = theano.function([v, bv, bh], free_energy(v, theano.shared(W.astype(FLOATX)), bv, bh))
    want = sum(np_free_energies(roll[t:t + 1].astype(numpy.float64), W, bv_t[t], bh_t[t])[0]
               for t in range(5))
    numpy.testing.assert_allclose(f(roll, bv_t.astype(FLOATX), bh_t.astype(FLOATX)), want, **tol)


@pytest.mark.skipif(FLOATX != "float64", reason="finite differences need float64 (make test "
                    "runs it in its float64 pass; 20-30 s)")
def test_gradient_of_the_cost_matches_finite_differences():
    """Theano's gradient of the training cost (all 8 parameters, through the recurrence; the
    negative sample held fixed, as consider_constant holds it) against central differences
    of the numpy float64 cost."""
    model = small_model(scale=0.3)
    v_neg = T.matrix("v_neg")
    grads = T.grad(model.cost, model.params, consider_constant=[model.v_sample])
    grads = [theano.clone(g, replace={model.v_sample: v_neg}) for g in grads]
    f = theano.function([model.v, v_neg], grads)
    rng = numpy.random.RandomState(2)
    roll, negative = random_roll(rng, 6, 6), random_roll(rng, 6, 6)
    params = [p.astype(numpy.float64) for p in model.get_params_values()]
    got = f(roll, negative)
    eps = 1e-6
    for index, (param, grad) in enumerate(zip(params, got)):
        numeric = numpy.zeros_like(param)
        for position in numpy.ndindex(param.shape):
            saved = param[position]
            param[position] = saved + eps
            up = np_cost(params, roll, negative)
            param[position] = saved - eps
            down = np_cost(params, roll, negative)
            param[position] = saved
            numeric[position] = (up - down) / (2 * eps)
        assert numpy.abs(numeric).max() > 1e-4, model.params[index].name   # not vacuous
        loose = {"float64": dict(rtol=1e-5, atol=1e-7), "float32": dict(rtol=2e-3, atol=2e-4)}
        numpy.testing.assert_allclose(grad, numeric, err_msg=model.params[index].name,
                                      **loose[FLOATX])


def test_gibbs_chain_samples_binary_states_of_the_right_shape():
    rng = numpy.random.RandomState(4)
    W = theano.shared(rng.normal(0, 1, (6, 5)).astype(FLOATX))
    bv, bh = (theano.shared(numpy.zeros(n, dtype=FLOATX)) for n in (6, 5))
    v = T.matrix("v")
    v_sample, cost, monitor, updates = build_rbm(v, W, bv, bh, 3, MRG_RandomStreams(1))
    f = theano.function([v], [v_sample, cost, monitor], updates=updates)
    sample, cost_value, monitor_value = f(random_roll(rng, 8, 6))
    assert sample.shape == (8, 6) and set(numpy.unique(sample)) <= {0.0, 1.0}
    assert numpy.isfinite(cost_value) and monitor_value < 0


def test_training_raises_the_monitor_on_a_toy_sequence():
    """A repeated two-chord pattern: the mean monitor (a log-likelihood-like score of the
    frames, <= 0) rises epoch after epoch under SGD."""
    pattern = numpy.zeros((40, 6))
    pattern[0::2, [0, 2, 4]] = 1
    pattern[1::2, [1, 3]] = 1
    model = RnnRbm(n_hidden=8, n_hidden_recurrent=6, lr=0.1, r=(60, 66),
                   numpy_rng=numpy.random.RandomState(1))
    out = io.StringIO()
    history = model.train([pattern, pattern[:25]], batch_size=20, num_epochs=20, out=out)
    assert len(history) == 20 and all(m <= 0 for m in history)
    assert history[-1] > history[0] + 1.0, history
    lines = out.getvalue().splitlines()
    assert lines[0] == "Epoch 1/20" and float(lines[1]) == pytest.approx(history[0])


def test_generate_gives_a_binary_roll_of_200_steps():
    model = RnnRbm(n_hidden=5, n_hidden_recurrent=4, r=(60, 66))
    roll = model.generate()
    assert roll.shape == (200, 6) and roll.dtype == FLOATX
    assert set(numpy.unique(roll)) <= {0.0, 1.0}


def test_the_scans_run_compiled():
    """The recurrence, the Gibbs chains and the generation loop are Scans that dltut.compat
    runs in C (not Scan's Python loop)."""
    model = RnnRbm(n_hidden=5, n_hidden_recurrent=4, r=(60, 66))
    assert uses_compiled_scan(model.train_function)
    assert uses_compiled_scan(model.generate_function)


def test_the_tutorials_initial_weights_and_order_of_draws():
    """RandomState(0xbeef): the MRG seed, then W (0.01), Wuh, Wuv, Wvu, Wuu (0.0001)."""
    model = RnnRbm(n_hidden=5, n_hidden_recurrent=4, r=(60, 66))
    rng = numpy.random.RandomState(0xbeef)
    rng.randint(1 << 30)
    shapes = {"W": (6, 5), "Wuh": (4, 5), "Wuv": (4, 6), "Wvu": (6, 4), "Wuu": (4, 4)}
    values = dict(zip([p.name for p in model.params], model.get_params_values()))
    for name in ("W", "Wuh", "Wuv", "Wvu", "Wuu"):
        want = rng.normal(scale=0.01 if name == "W" else 0.0001, size=shapes[name])
        numpy.testing.assert_array_equal(values[name], want.astype(FLOATX), err_msg=name)
    for name in ("bv", "bh", "bu"):
        assert not values[name].any()
    # and the epochs' shuffles continue the same generator
    assert model.numpy_rng.randint(1000) == rng.randint(1000)


@pytest.mark.parametrize("build, fragments", [
    (lambda: RnnRbm(n_hidden=0), ["n_hidden", "got 0", "positive integer"]),
    (lambda: RnnRbm(lr=-1), ["lr", "got -1"]),
    (lambda: RnnRbm(r=(60, 50)), ["r must satisfy", "(60, 50)"]),
    (lambda: RnnRbm(r=60), ["r must be a pair", "got 60"]),
    (lambda: RnnRbm(dt=0), ["dt", "got 0"]),
    (lambda: RnnRbm(numpy_rng=1234), ["numpy_rng", "RandomState"]),
    (lambda: pitch_range((21, 200)), ["r must satisfy", "(21, 200)"]),
    (lambda: check_piano_rolls([numpy.zeros((5, 87))], 88), ["sequence 0", "(5, 87)", "(T, 88)"]),
    (lambda: check_piano_rolls([numpy.zeros((5, 88)), numpy.full((3, 88), 0.5)], 88),
     ["sequence 1", "other than 0 and 1"]),
    (lambda: check_piano_rolls([], 88), ["no sequence", "fetch jsb"]),
    (lambda: check_piano_rolls(numpy.zeros((5, 88)), 88), ["one array", "[roll]"]),
])
def test_bad_arguments_fail_in_one_line_naming_the_value(build, fragments):
    kind = TypeError if "RandomState" in fragments else ValueError
    assert_one_error(kind, build, fragments)


# ------------------------------------------------------------------------------- the data
def test_piano_roll_builder_by_hand():
    # (pitch, onset, offset) in quarter notes; steps of one quarter; range 60-65
    notes = [(60, 0, 1), (62, 1, 3), (64, 2.5, 3), (65, 3, 3.5), (70, 0, 4), (61, 3.5, 5)]
    roll = jsb.notes_to_piano_roll(notes, 1.0, (60, 66))
    want = numpy.zeros((5, 6), numpy.uint8)
    want[0, 0] = 1            # C4 on step 0
    want[1:3, 2] = 1          # D4 held over steps 1-2
    # E4 at 2.5-3 starts after step 2's start and ends at step 3's: no step sees it
    want[3, 5] = 1            # F4 from 3 to 3.5: step 3
    want[4, 1] = 1            # C#4 from 3.5 to 5: step 4 (3.5 is after step 3's start)
    # pitch 70 is outside the range
    numpy.testing.assert_array_equal(roll, want)
    # half-quarter steps see the short notes
    fine = jsb.notes_to_piano_roll(notes, 0.5, (60, 66))
    assert fine.shape == (10, 6) and fine[5, 4] == 1 and fine[7:10, 1].all() and not fine[6, 1]


def test_piano_roll_of_a_tiny_music21_score():
    music21 = pytest.importorskip("music21")
    from music21 import chord, note, stream, tie
    part = stream.Part()
    part.append(note.Note("C4", quarterLength=1))
    tied_a, tied_b = note.Note("D4", quarterLength=1), note.Note("D4", quarterLength=1)
    tied_a.tie, tied_b.tie = tie.Tie("start"), tie.Tie("stop")
    part.append([tied_a, tied_b])
    part.append(note.Rest(quarterLength=1))
    part.append(chord.Chord(["E4", "G4"], quarterLength=2))
    bass = stream.Part([note.Note("C3", quarterLength=4), note.Note("G2", quarterLength=2)])
    score = stream.Score([part, bass])
    notes, end = jsb.score_notes(score)
    assert end == 6.0
    assert sorted(notes) == sorted([(60, 0, 1), (62, 1, 3), (64, 4, 6), (67, 4, 6),
                                    (48, 0, 4), (43, 4, 6)])   # the tie merged into one note
    roll = jsb.notes_to_piano_roll(notes, jsb.JSB_STEP, jsb.PIANO_RANGE, end)
    want = numpy.zeros((6, 88), numpy.uint8)
    for pitch, steps in ((60, [0]), (62, [1, 2]), (64, [4, 5]), (67, [4, 5]),
                         (48, [0, 1, 2, 3]), (43, [4, 5])):
        want[steps, pitch - 21] = 1
    numpy.testing.assert_array_equal(roll, want)
    assert music21.__version__


def test_jsb_split_is_by_number():
    assert [jsb.split_of(n) for n in range(1, 11)] == [
        "valid", "train", "train", "train", "test", "valid", "train", "train", "train", "test"]


def test_rolls_file_round_trip_and_bad_files(tmp_path):
    rng = numpy.random.RandomState(0)
    splits = {name: [("piece%d" % i, (rng.uniform(size=(n, 88)) < 0.1).astype(numpy.uint8))
                     for i, n in enumerate(lengths)]
              for name, lengths in (("train", (5, 9)), ("valid", (3,)), ("test", (4, 1)))}
    path = jsb.save_rolls(tmp_path / "rolls.npz", splits, 1.0, (21, 109))
    loaded = jsb.load_rolls(path)
    for split, rolls in zip(("train", "valid", "test"), loaded):
        assert len(rolls) == len(splits[split])
        for roll, (_, want) in zip(rolls, splits[split]):
            numpy.testing.assert_array_equal(roll, want)
    assert check_piano_rolls(loaded[0], 88)[0].dtype == FLOATX

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    assert_one_error(DatasetError, lambda: jsb.load_rolls(garbage),
                     [str(garbage), "not a readable piano-roll file", "fetch jsb"])
    assert_one_error(DatasetError, lambda: jsb.load_rolls(tmp_path / "absent.npz"),
                     ["absent.npz does not exist", "fetch jsb"])
    numpy.savez(tmp_path / "short.npz", train_rolls=numpy.zeros((5, 88), numpy.uint8),
                train_lengths=numpy.array([2, 2]))
    assert_one_error(DatasetError, lambda: jsb.load_rolls(tmp_path / "short.npz"),
                     ["train_lengths", "do not cut the 5 steps"])
    numpy.savez(tmp_path / "wide.npz", train_rolls=numpy.zeros((5, 90), numpy.uint8),
                train_lengths=numpy.array([5]))
    assert_one_error(DatasetError, lambda: jsb.load_rolls(tmp_path / "wide.npz"),
                     ["(5, 90)", "expected (T, 88)"])


def _mido_file(path, events, ticks_per_beat=480):
    """A MIDI file made with mido from (delta ticks, message kind, fields)."""
    mido = pytest.importorskip("mido")
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    track = mido.MidiTrack()
    for delta, kind, fields in events:
        if kind == "tempo":
            track.append(mido.MetaMessage("set_tempo", tempo=fields, time=delta))
        else:
            track.append(mido.Message(kind, time=delta, **fields))
    midi.tracks.append(track)
    midi.save(str(path))


def test_midi_folder_by_hand(tmp_path):
    """At 120 bpm (0.5 s a beat, 480 ticks) with dt 0.25 s: a beat is two steps.  The tempo
    halves after two beats (1 s a beat): four steps a beat from there."""
    for split in ("train", "valid", "test"):
        (tmp_path / split).mkdir()
    events = [(0, "note_on", dict(note=60, velocity=80)),
              (0, "note_on", dict(note=64, velocity=80)),
              (480, "note_off", dict(note=60, velocity=0)),          # 0.5 s
              (0, "note_on", dict(note=62, velocity=80)),
              (480, "note_on", dict(note=62, velocity=0)),           # 1.0 s: velocity-0 off
              (0, "note_off", dict(note=64, velocity=0)),
              (0, "tempo", 1000000),
              (240, "note_on", dict(note=59, velocity=80)),          # 1.5 s
              (480, "note_off", dict(note=59, velocity=0))]          # 2.5 s
    for split in ("train", "valid", "test"):
        _mido_file(tmp_path / split / "a.mid", events)
    _mido_file(tmp_path / "train" / "b.mid", events[:3])
    train, valid, test = jsb.load_midi_folder(tmp_path, r=(58, 66), dt=0.25)
    want = numpy.zeros((10, 8))
    want[0:2, 60 - 58] = 1
    want[0:4, 64 - 58] = 1
    want[2:4, 62 - 58] = 1
    want[6:10, 59 - 58] = 1
    assert len(train) == 2 and len(valid) == len(test) == 1
    numpy.testing.assert_array_equal(train[0], want)
    numpy.testing.assert_array_equal(test[0], want)
    assert train[1].shape == (2, 8)

    (tmp_path / "train" / "c.mid").write_bytes(b"MThd garbage")
    assert_one_error(DatasetError, lambda: jsb.load_midi_folder(tmp_path),
                     ["c.mid is not a readable MIDI file", "remove it"])
    (tmp_path / "train" / "c.mid").unlink()
    for path in (tmp_path / "valid").iterdir():
        path.unlink()
    assert_one_error(DatasetError, lambda: jsb.load_midi_folder(tmp_path),
                     ["valid has no .mid files", "Nottingham layout"])
    assert_one_error(DatasetError, lambda: jsb.load_midi_folder(tmp_path / "nowhere"),
                     ["is not a folder", "train/, valid/ and test/"])


def test_write_midi_reads_back_as_the_same_roll(tmp_path):
    pytest.importorskip("mido")
    roll = random_roll(numpy.random.RandomState(8), 30, 88, 0.05)
    roll[2, 40], roll[3:9, 40], roll[9, 40] = 0, 1, 0      # a held note: MIDI 61, steps 3-8
    path = jsb.write_midi(tmp_path / "out.mid", roll, dt=0.3)
    notes, _ = jsb.midi_notes(path)
    back = jsb.notes_to_piano_roll(notes, 0.3, (21, 109), end=len(roll) * 0.3)
    numpy.testing.assert_array_equal(back, roll)
    held = [(on, off) for pitch, on, off in notes if pitch == 61 and 0.8 < on < 1.0]
    assert len(held) == 1 and held[0] == (pytest.approx(0.9), pytest.approx(2.7))


def test_fetch_jsb_on_three_chorales(tmp_path, capsys):
    pytest.importorskip("music21")
    path = jsb.fetch_jsb(tmp_path, numbers=(1, 2, 5))
    out = capsys.readouterr().out
    assert "Not the exact split" in out and "quarter note" in out and "21-108" in out
    train, valid, test = jsb.load_rolls(path)
    assert (len(train), len(valid), len(test)) == (1, 1, 1)
    with numpy.load(path) as data:
        assert list(data["valid_pieces"]) == ["bach/bwv269"]     # Riemenschneider 1
    assert all(roll.sum(axis=1).max() <= 4 for roll in train + valid + test)   # four voices
    assert jsb.fetch_jsb(tmp_path, numbers=(1,)) == path           # a readable file is kept
    assert "kept" in capsys.readouterr().out


# ------------------------------------------------------------------------------- faithfulness
#: Printed by the tutorial's own rnnrbm.py (DeepLearningTutorials, code/rnnrbm.py at
#: 11c4651), run outside this repository with this venv's Theano after ``import dltut``, its
#: ``midi.utils.midiread`` replaced by a stand-in returning toy_chorales()'s four rolls (saved
#: as .npy files, read in that order), ``RnnRbm().train(files, batch_size=100,
#: num_epochs=2)`` then ``generate_function()``; one OpenBLAS thread.  The mean monitor of
#: each epoch as printed, and the md5 of the generated roll (200 x 88, as uint8) with its
#: number of notes.
TUTORIAL_CODE = {
    "float32": (["-59.00127737862723", "-54.87991714477539"],
                "9ac16af6ad7dbc0927698f29833e43cf", 7887),
    "float64": (["-59.00127627091772", "-54.87991717268229"],
                "9ac16af6ad7dbc0927698f29833e43cf", 7887),
}


def test_first_epochs_print_the_tutorial_codes_numbers():
    """dltut's RnnRbm with the tutorial's defaults (150 hidden, 100 recurrent, lr 0.001,
    r=(21, 109), seed 0xbeef, batch 100) prints the tutorial code's numbers for two epochs on
    the toy chorales and then generates the very same piece (one OpenBLAS thread, in a fresh
    process; this floatX)."""
    script = textwrap.dedent("""
        import hashlib, sys
        sys.path.insert(0, %r)
        import dltut, numpy
        from dltut.recurrent import EpochChunks, RnnRbm
        from _music import toy_chorales
        model = RnnRbm()
        model.train(toy_chorales(), batch_size=100, num_epochs=2)
        roll = model.generate()
        print(hashlib.md5((roll > 0.5).astype(numpy.uint8).tobytes()).hexdigest(),
              int(roll.sum()))
    """ % HERE)
    env = child_env()
    env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS"), "floatX=" + FLOATX]))
    env["OPENBLAS_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    monitors, md5, notes = TUTORIAL_CODE[FLOATX]
    assert out.stdout.splitlines() == ["Epoch 1/2", monitors[0], "Epoch 2/2", monitors[1],
                                       "%s %d" % (md5, notes)]


# ------------------------------------------------------------------------------- the loop
def _toy_model(seed=0xbeef):
    return RnnRbm(n_hidden=7, n_hidden_recurrent=5, lr=0.05, r=(60, 66),
                  numpy_rng=numpy.random.RandomState(seed))


def _toy_rolls():
    rng = numpy.random.RandomState(11)
    return [random_roll(rng, n, 6) for n in (23, 9, 31, 12, 17)]


def _layer(model, chunks):
    from dltut.training import PretrainLayer, updated_shared_variables
    shared = updated_shared_variables(model.train_function)
    state = [v for v in shared if not any(v is p for p in model.params)] + chunks.state
    return PretrainLayer("rnnrbm", chunks, model.params, state=state, outputs=("monitor",),
                         log_format="epoch {epoch}, monitor {monitor!r}")


def test_epoch_chunks_in_the_pretrainer_walk_the_path_of_train(tmp_path):
    """The Pretrainer over EpochChunks prints train()'s numbers; stopped after one epoch and
    resumed from its checkpoint by a fresh process's worth of objects, it goes on to the same
    numbers as the run that never stopped."""
    from dltut.training import Pretrainer
    history = _toy_model().train(_toy_rolls(), batch_size=10, num_epochs=3, out=io.StringIO())

    model = _toy_model()
    chunks = EpochChunks(model, _toy_rolls(), batch_size=10)
    assert chunks.n_batches == 3 + 1 + 4 + 2 + 2
    lines = []
    Pretrainer([_layer(model, chunks)], chunks.n_batches, 3, log=lines.append,
               progress=False).run()
    assert lines == ["epoch %d, monitor %r" % (i, m) for i, m in enumerate(history)]

    first = _toy_model()
    chunks = EpochChunks(first, _toy_rolls(), batch_size=10)
    trainer = Pretrainer([_layer(first, chunks)], chunks.n_batches, 1, log=lambda line: None,
                         progress=False)
    trainer.run()
    trainer.save_checkpoint(str(tmp_path / "ckpt.npz"))
    again = _toy_model(seed=1)               # other weights and generator: the file restores
    chunks = EpochChunks(again, _toy_rolls(), batch_size=10)
    lines = []
    resumed = Pretrainer([_layer(again, chunks)], chunks.n_batches, 3, log=lines.append,
                         progress=False)
    resumed.load_checkpoint(str(tmp_path / "ckpt.npz"))
    resumed.run()
    assert lines == ["epoch %d, monitor %r" % (i, m) for i, m in enumerate(history)][1:]


def test_epoch_chunks_continue_an_epoch_from_its_shared_state():
    """Mid-epoch: copying every shared variable the step changes (parameters, random
    streams, order, generator) into fresh objects continues bit for bit."""
    from dltut.training import updated_shared_variables
    model = _toy_model()
    chunks = EpochChunks(model, _toy_rolls(), batch_size=10)
    straight = [chunks(i) for i in range(chunks.n_batches)] + [chunks(i) for i in range(5)]

    model = _toy_model()
    chunks = EpochChunks(model, _toy_rolls(), batch_size=10)
    done = [chunks(i) for i in range(7)]
    saved = [v.get_value() for v in updated_shared_variables(model.train_function)
             + chunks.state]
    fresh = _toy_model(seed=3)
    fresh_chunks = EpochChunks(fresh, _toy_rolls(), batch_size=10)
    for variable, value in zip(updated_shared_variables(fresh.train_function)
                               + fresh_chunks.state, saved):
        variable.set_value(value)
    rest = [fresh_chunks(i) for i in range(7, fresh_chunks.n_batches)]
    rest += [fresh_chunks(i) for i in range(5)]
    assert done + rest == straight


# ------------------------------------------------------------------------------- the script
def _toy_file(path):
    rolls = toy_chorales(lengths=(30, 12, 25))
    splits = {"train": [("a", r.astype(numpy.uint8)) for r in rolls],
              "valid": [("b", rolls[0].astype(numpy.uint8))],
              "test": [("c", rolls[1].astype(numpy.uint8))]}
    return jsb.save_rolls(path, splits, 1.0, (21, 109))


def test_script_trains_resumes_and_writes_pieces(tmp_path, capsys):
    pytest.importorskip("mido")
    pytest.importorskip("matplotlib")
    from dltut.cli.rnnrbm import main
    data = _toy_file(tmp_path / "toy.npz")
    small = ["--dataset", str(data), "--n-hidden", "9", "--n-hidden-recurrent", "7",
             "--batch-size", "10", "--learning-rate", "0.01"]
    assert main(small + ["--epochs", "2", "--samples", "0", "--out", str(tmp_path / "a")]) == 0
    straight = capsys.readouterr().out.splitlines()
    assert straight[1:5][0::2] == ["Epoch 1/2", "Epoch 2/2"]
    # the same run stopped after one epoch and resumed prints the same second epoch
    assert main(small + ["--epochs", "1", "--samples", "0", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["--resume", str(tmp_path / "b"), "--epochs", "2", "--samples", "1"]) == 0
    resumed = capsys.readouterr().out.splitlines()
    assert resumed[2:4] == straight[3:5]
    run = tmp_path / "b"
    assert (run / "sample1.mid").stat().st_size > 0
    assert (run / "sample1.png").read_bytes()[:4] == b"\x89PNG"
    notes, _ = jsb.midi_notes(run / "sample1.mid")
    assert notes and all(21 <= pitch <= 108 for pitch, _, _ in notes)


def test_script_refuses_a_bad_dataset_in_one_line(tmp_path, capsys):
    from dltut.cli.rnnrbm import main
    (tmp_path / "bad.npz").write_bytes(b"nonsense")
    assert main(["--dataset", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bad.npz is not a readable piano-roll file" in err
    assert not (tmp_path / "r").exists()


def test_data_fetch_jsb_dispatches_to_the_builder(tmp_path, monkeypatch, capsys):
    """``python -m dltut.data fetch jsb`` (the builder replaced by a two-piece one: the real
    one parses 371 scores); a readable file is kept, a damaged one refused in one line."""
    from dltut import data
    roll = numpy.zeros((3, 88), numpy.uint8)
    roll[:, 40] = 1
    monkeypatch.setattr(jsb, "build_jsb", lambda numbers=None, say=print: {
        "train": [("bach/x", roll)], "valid": [("bach/y", roll)], "test": []})
    assert data.main(["fetch", "jsb", "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Not the exact split" in out and str(tmp_path / "jsb.npz") in out
    train, valid, test = jsb.load_rolls(tmp_path / "jsb.npz")
    assert len(train) == len(valid) == 1 and test == []
    assert data.main(["fetch", "jsb", "--dest", str(tmp_path), "--quiet"]) == 0
    (tmp_path / "jsb.npz").write_bytes(b"broken")
    assert data.main(["fetch", "jsb", "--dest", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--force" in err
    assert data.main(["fetch", "jsb", "--dest", str(tmp_path), "--force", "--quiet"]) == 0
    assert data.main(["fetch", "bach"]) == 1


def test_reproduce_reports_a_finished_run_with_its_monitor_and_piece(tmp_path, capsys):
    """scripts/reproduce.py's RNN-RBM section, from a real (tiny) run folder: the monitor of
    each epoch as pretraining.jsonl holds it, the piece's notes as its MIDI file holds them,
    the figures and the MIDI file copied beside the report, the command with the venv's
    Python; every experiment keeps its row."""
    pytest.importorskip("mido")
    from _cli import script
    from dltut.cli.rnnrbm import main
    from dltut.runs import rundir
    reproduce = script("reproduce")
    runs = tmp_path / "runs"
    folder = runs / "rnnrbm-jsb"
    data = _toy_file(tmp_path / "toy.npz")
    assert main(["--dataset", str(data), "--n-hidden", "9", "--n-hidden-recurrent", "7",
                 "--batch-size", "10", "--learning-rate", "0.01", "--epochs", "3",
                 "--samples", "1", "--out", str(folder), "--quiet"]) == 0
    assert reproduce.status(str(folder)) == "done"
    assert reproduce.command_for("rnnrbm", "jsb", str(folder), resume=True)[1:] == [
        os.path.join("scripts", "rnnrbm.py"), "--resume", os.path.relpath(str(folder), str(
            reproduce.ROOT))]
    reproduce.report(str(runs), str(tmp_path / "RESULTS.md"), "float32")
    text = (tmp_path / "RESULTS.md").read_text()
    records = rundir.RunDir(str(folder)).read_history(rundir.PRETRAINING_HISTORY)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    row = [line for line in text.splitlines() if line.startswith("| rnnrbm | jsb |")]
    assert len(row) == 1 and "monitor %.3f after the last epoch (%.3f after the first)" % (
        records[-1]["monitor"], records[0]["monitor"]) in row[0], row
    assert "| 3, n_epochs |" in row[0]
    assert "| monitor | " + " | ".join("%.3f" % r["monitor"] for r in records) + " |" in text
    notes, _ = jsb.midi_notes(folder / "sample1.mid")
    assert "200 steps of 0.3 s, %d notes" % len(notes) in text
    assert "where the training chorales hold" in text   # the --dataset file was readable
    for name in ("rnnrbm-jsb-sample.mid", "rnnrbm-jsb-sample.png", "rnnrbm-jsb-monitor.png"):
        assert (tmp_path / "results" / name).stat().st_size > 0
        assert ("the MIDI file: `results/%s`" if name.endswith(".mid") else "](results/%s)") % (
            name) in text
    assert (tmp_path / "results" / "rnnrbm-jsb-sample.mid").read_bytes() == (
        folder / "sample1.mid").read_bytes()
    command = "Command: `THEANO_FLAGS=floatX=float32 %s scripts/rnnrbm.py --dataset" % (
        reproduce.interpreter())
    assert command in text and "`python scripts" not in text
    for script_name, dataset in reproduce.ORDER:   # no section lost
        assert "| %s | %s |" % (script_name, dataset) in text
