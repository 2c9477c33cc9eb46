"""Piano rolls for the RNN-RBM: Bach's chorales from music21's corpus, and MIDI folders.

A piano roll is a binary matrix of shape ``(T, r[1] - r[0])``: row ``t`` is the time step
starting at ``t * step``, column ``j`` the MIDI pitch ``r[0] + j``; a note sounding over
``[onset, offset)`` is on in every step whose *start* lies in that interval, i.e. in rows
``ceil(onset / step)`` to ``ceil(offset / step) - 1`` (a note shorter than a step that starts
between two step starts is not seen; the roll has ``ceil(end / step)`` rows).  Pitches
outside the range are dropped.

* :func:`build_jsb` (``python -m dltut.data fetch jsb``) reads the 371 four-part chorales of
  music21's corpus, in Riemenschneider's numbering (music21 ships them as MusicXML; its corpus
  is where the JSB Chorales of Boulanger-Lewandowski et al. 2012 come from), ties merged,
  repeats not expanded, one step per quarter note (:data:`JSB_STEP`, the paper's JSB
  resolution too), pitches 21-108, and splits them by number: ``n % 5 == 0`` test,
  ``n % 5 == 1`` valid, the rest train (about 60/20/20).  This is *not* the paper's exact
  split (which it does not list): results are comparable in kind, not to the digit.  The
  file, ``data/jsb.npz``, holds for each split the rolls stacked along time
  (``<split>_rolls``, uint8) and their lengths (``<split>_lengths``), the pieces' corpus
  paths (``<split>_pieces``), ``r`` and ``step``; no pickles.
* :func:`load_jsb` reads it back as ``(train, valid, test)``, each a list of ``(T_i, 88)``
  arrays: what :meth:`dltut.recurrent.RnnRbm.train` takes.
* :func:`load_midi_folder` reads a folder in the Nottingham layout the tutorial code reads
  (``train/*.mid``, ``valid/*.mid``, ``test/*.mid``), with mido, at ``dt`` seconds per step
  (0.3, the tutorial's), tempo changes followed.
* :func:`write_midi` writes a (generated) roll as a MIDI file.

music21 and mido are optional (``pip install dltut[music]``); this module imports them only
when it needs them, and no Theano.
"""
import io
import math
import pathlib

import numpy

from .. import checks
from ..runs.checkpoint import atomic_write
from .formats import SPLIT_NAMES, DatasetError

__all__ = ["JSB_STEP", "JSB_FILE", "N_CHORALES", "PIANO_RANGE", "notes_to_piano_roll",
           "score_notes", "split_of", "build_jsb", "save_rolls", "load_rolls", "load_jsb",
           "midi_notes", "load_midi_folder", "write_midi", "MIDI_DT", "describe_jsb", "fetch_jsb"]

#: Steps per quarter note of the chorales' rolls: one step per quarter note.
JSB_STEP = 1.0
#: The file ``fetch jsb`` writes in the data folder.
JSB_FILE = "jsb.npz"
#: Riemenschneider's numbering of the four-part chorales runs 1..371.
N_CHORALES = 371
#: The 88 piano keys, MIDI 21..108 (r[1] excluded), as the tutorial's r=(21, 109).
PIANO_RANGE = (21, 109)
#: The tutorial's MIDI sampling period, seconds per step.
MIDI_DT = 0.3
#: What to install for this module's readers and writers.
INSTALL_HINT = "install them with: pip install 'dltut[music]' (music21 and mido)"


def _need(module):
    """Import ``module`` (music21 or mido), or a DatasetError saying how to install it."""
    try:
        return __import__(module)
    except ImportError:
        raise DatasetError("%s is not installed; %s" % (module, INSTALL_HINT)) from None


def _range(r):
    low, high = (checks.non_negative_int(value, "r[%d]" % i) for i, value in enumerate(r))
    if not low < high <= 128:
        raise ValueError("r must satisfy 0 <= low < high <= 128, got %r; give e.g. (21, 109)"
                         % (tuple(r),))
    return low, high


def notes_to_piano_roll(notes, step, r=PIANO_RANGE, end=None):
    """A piano roll (uint8, shape ``(ceil(end / step), r[1] - r[0])``) from notes.

    Parameters
    ----------
    notes : iterable of (pitch, onset, offset)
        MIDI pitch and the interval it sounds, in any unit (quarter notes, seconds).
    step : float
        The length of one time step in that unit.
    r : (int, int)
        Pitches ``r[0] .. r[1] - 1`` are kept.
    end : float, optional
        The piece's end (default: the last offset); the roll covers ``[0, end)``.
    """
    step = checks.positive_float(step, "step")
    low, high = _range(r)
    notes = [(int(p), float(on), float(off)) for p, on, off in notes]
    if end is None:
        end = max((off for _, _, off in notes), default=0.0)
    # the tiny tolerance keeps a note at 2.0000000001 quarter notes (float offsets) on step 2
    first = lambda time: int(math.ceil(time / step - 1e-9))   # noqa: E731
    roll = numpy.zeros((first(end), high - low), dtype=numpy.uint8)
    for pitch, onset, offset in notes:
        if low <= pitch < high:
            roll[first(onset):first(offset), pitch - low] = 1
    return roll


def score_notes(score):
    """The ``(pitch, onset, offset)`` of every note of a music21 score, in quarter notes,
    after merging tied notes (chords give one entry per pitch; rests and grace notes none)."""
    merged = score.stripTies()
    notes = []
    for element in merged.flatten().notes:
        onset = float(element.offset)
        offset = onset + float(element.quarterLength)
        notes.extend((pitch.midi, onset, offset) for pitch in element.pitches)
    return notes, float(merged.highestTime)


def split_of(number):
    """The split of chorale ``number`` (Riemenschneider): test if ``number % 5 == 0``,
    valid if ``== 1``, train otherwise."""
    return {0: "test", 1: "valid"}.get(number % 5, "train")


def build_jsb(numbers=None, step=JSB_STEP, r=PIANO_RANGE, say=print):
    """The chorales' piano rolls by split: ``{split: [(corpus path, roll), ...]}``.

    ``numbers`` are Riemenschneider numbers (default 1..371); a number music21 does not ship
    is skipped with a line through ``say``.  Parsing all of them takes a few minutes."""
    music21 = _need("music21")
    from music21 import corpus
    numbers = range(1, N_CHORALES + 1) if numbers is None else numbers
    splits = {name: [] for name in SPLIT_NAMES}
    for number in numbers:
        paths = list(corpus.chorales.Iterator(number, number, numberingSystem="riemenschneider",
                                              returnType="filename"))
        if not paths:
            say("chorale %d: not in music21 %s's corpus, skipped" % (number, music21.__version__))
            continue
        notes, end = score_notes(corpus.parse(paths[0]))
        splits[split_of(number)].append((str(paths[0]), notes_to_piano_roll(notes, step, r, end)))
    return splits


def save_rolls(path, splits, step, r):
    """Write ``{split: [(name, roll), ...]}`` as the .npz :func:`load_rolls` reads (atomically:
    an interrupted write leaves the old file)."""
    arrays = {"r": numpy.asarray(r, dtype=numpy.int64), "step": numpy.float64(step)}
    for split in SPLIT_NAMES:
        items = splits.get(split, [])
        width = r[1] - r[0]
        arrays[split + "_rolls"] = (numpy.concatenate([roll for _, roll in items]) if items
                                    else numpy.zeros((0, width))).astype(numpy.uint8)
        arrays[split + "_lengths"] = numpy.array([len(roll) for _, roll in items], numpy.int64)
        arrays[split + "_pieces"] = numpy.array([name for name, _ in items], dtype=str)

    buffer = io.BytesIO()
    numpy.savez_compressed(buffer, **arrays)
    atomic_write(path, buffer.getvalue())
    return pathlib.Path(path)


def load_rolls(path, r=PIANO_RANGE):
    """``(train, valid, test)`` lists of ``(T_i, r[1] - r[0])`` float arrays from a file of
    :func:`save_rolls`; :class:`DatasetError` in one line (naming the file, what is wrong and
    what to do) for a missing, damaged or mismatched file."""
    path = pathlib.Path(path)
    fix = "build it again with: python -m dltut.data fetch jsb"
    if not path.is_file():
        raise DatasetError("%s does not exist; %s" % (path, fix))
    try:
        with numpy.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as error:   # zipfile, zlib, format and pickle errors alike
        raise DatasetError("%s is not a readable piano-roll file (%s); %s"
                           % (path, str(error) or type(error).__name__, fix)) from None
    width = r[1] - r[0]
    splits = []
    for split in SPLIT_NAMES:
        rolls, lengths = arrays.get(split + "_rolls"), arrays.get(split + "_lengths")
        if rolls is None or lengths is None:
            raise DatasetError("%s lacks %s_rolls or %s_lengths; %s" % (path, split, split, fix))
        if rolls.ndim != 2 or rolls.shape[1] != width:
            raise DatasetError("%s: %s_rolls has shape %s, expected (T, %d) for pitches %d-%d; %s"
                               % (path, split, rolls.shape, width, r[0], r[1] - 1, fix))
        if (lengths.ndim != 1 or lengths.dtype.kind not in "iu" or (lengths < 1).any()
                or lengths.sum() != len(rolls)):
            raise DatasetError("%s: %s_lengths (%d sequences, %s steps) do not cut the %d steps "
                               "of %s_rolls; %s" % (path, split, lengths.size,
                                                    lengths.sum() if lengths.size else 0,
                                                    len(rolls), split, fix))
        if rolls.size and not numpy.isin(rolls, (0, 1)).all():
            raise DatasetError("%s: %s_rolls holds values other than 0 and 1; %s"
                               % (path, split, fix))
        splits.append(numpy.split(rolls.astype(numpy.float64), numpy.cumsum(lengths)[:-1])
                      if lengths.size else [])
    return tuple(splits)


def load_jsb(path=None):
    """The chorales' ``(train, valid, test)`` piano rolls (``data/jsb.npz`` by default)."""
    if path is None:
        from ..data import default_data_dir
        path = default_data_dir() / JSB_FILE
    return load_rolls(path)


# ------------------------------------------------------------------------------- MIDI
def midi_notes(path):
    """The ``(pitch, onset, offset)`` of every note of a MIDI file, in seconds (mido follows
    the tempo changes), and the file's length; a note-on of velocity 0 ends a note, and a
    note left sounding ends with the file."""
    mido = _need("mido")
    try:
        midi = mido.MidiFile(str(path))
        messages = list(midi)
    except Exception as error:   # mido raises OSError, EOFError, ValueError, KeyError, ...
        raise DatasetError("%s is not a readable MIDI file (%s); remove it or replace it"
                           % (path, str(error) or type(error).__name__)) from None
    now, sounding, notes = 0.0, {}, []
    for message in messages:
        now += message.time
        if message.type not in ("note_on", "note_off"):
            continue
        key = (message.channel, message.note)
        if key in sounding:   # a note ends (or is struck again, which ends it too)
            notes.append((message.note, sounding.pop(key), now))
        if message.type == "note_on" and message.velocity > 0:
            sounding[key] = now
    notes.extend((note, onset, now) for (_, note), onset in sounding.items())
    return notes, now


def load_midi_folder(root, r=PIANO_RANGE, dt=MIDI_DT):
    """``(train, valid, test)`` lists of piano rolls (float, ``(T_i, r[1] - r[0])``) from a
    folder in the Nottingham layout: ``root/train/*.mid``, ``root/valid/*.mid``,
    ``root/test/*.mid`` (sorted by name), ``dt`` seconds per step.  DatasetError in one line
    for a missing folder, an empty split or an unreadable file."""
    root = pathlib.Path(root).expanduser()
    dt = checks.positive_float(dt, "dt")
    if not root.is_dir():
        raise DatasetError("%s is not a folder; give a folder holding train/, valid/ and test/ "
                           "with .mid files (the Nottingham layout)" % root)
    splits = []
    for split in SPLIT_NAMES:
        files = sorted((root / split).glob("*.mid")) + sorted((root / split).glob("*.midi"))
        if not files:
            raise DatasetError("%s has no .mid files; the Nottingham layout puts each split's "
                               "pieces in %s" % (root / split, root / "<split>"))
        rolls = []
        for path in files:
            notes, end = midi_notes(path)
            roll = notes_to_piano_roll(notes, dt, r, end)
            if not len(roll):
                raise DatasetError("%s holds no notes; remove it from the folder" % path)
            rolls.append(roll.astype(numpy.float64))
        splits.append(rolls)
    return tuple(splits)


def write_midi(path, roll, r=PIANO_RANGE, dt=MIDI_DT, velocity=90, ticks_per_beat=480):
    """Write a piano roll ``(T, r[1] - r[0])`` as a one-track MIDI file, ``dt`` seconds per
    step (at 120 beats a minute: ``dt / 0.5`` beats a step); consecutive 1s of a pitch are one
    held note."""
    mido = _need("mido")
    roll = numpy.asarray(roll) > 0.5
    if roll.ndim != 2 or roll.shape[1] != r[1] - r[0]:
        raise ValueError("roll has shape %s, expected (T, %d) for r=%r; give a piano roll of "
                         "the model's range" % (roll.shape, r[1] - r[0], tuple(r)))
    ticks_per_step = dt / 0.5 * ticks_per_beat           # mido's default tempo: 0.5 s a beat
    padded = numpy.vstack([numpy.zeros((1, roll.shape[1]), bool), roll,
                           numpy.zeros((1, roll.shape[1]), bool)])
    changes = numpy.argwhere(padded[1:] != padded[:-1])  # (step, column) where a pitch changes
    events = sorted((int(step), not padded[step + 1, column], int(column))
                    for step, column in changes)        # note-offs before note-ons at a step
    track = mido.MidiTrack()
    last = 0
    for step, is_off, column in events:
        tick = int(round(step * ticks_per_step))
        track.append(mido.Message("note_off" if is_off else "note_on", note=r[0] + column,
                                  velocity=0 if is_off else velocity, time=tick - last))
        last = tick
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tracks.append(track)

    buffer = io.BytesIO()
    midi.save(file=buffer)
    atomic_write(path, buffer.getvalue())
    return pathlib.Path(path)


def describe_jsb(step=JSB_STEP, r=PIANO_RANGE):
    """What :func:`fetch_jsb` builds, in a few lines (printed by the fetch)."""
    return ("the %d four-part chorales of music21's corpus (Riemenschneider 1-%d, MusicXML), "
            "ties merged, repeats not expanded;\none time step per %g quarter note(s); MIDI "
            "pitches %d-%d (%d columns);\nsplit by number n: test n %% 5 == 0, valid n %% 5 == 1, "
            "train the rest (about 60/20/20).\nNot the exact split of Boulanger-Lewandowski et "
            "al. (2012): numbers are comparable in kind only."
            % (N_CHORALES, N_CHORALES, step, r[0], r[1] - 1, r[1] - r[0]))


def fetch_jsb(dest=None, quiet=False, force=False, numbers=None):
    """Build ``data/jsb.npz`` (or ``dest``: a file, or a folder to put jsb.npz in) from
    music21's chorales and return its path; a readable file there is kept unless ``force``.
    Nothing is downloaded: music21 ships the corpus."""
    from ..data import default_data_dir
    dest = pathlib.Path(dest).expanduser() if dest is not None else default_data_dir()
    if dest.is_dir() or dest.suffix != ".npz":
        dest = dest / JSB_FILE
    say = (lambda message: None) if quiet else print
    if dest.is_file() and not force:
        try:
            load_rolls(dest)
        except DatasetError as error:
            raise DatasetError("%s; or pass --force to replace it" % error) from None
        say("%s is there and readable; kept (--force builds it again)" % dest)
        return dest
    say(describe_jsb())
    splits = build_jsb(numbers, say=say)
    save_rolls(dest, splits, JSB_STEP, PIANO_RANGE)
    for split in SPLIT_NAMES:
        say("%-5s %3d pieces, %5d steps" % (split, len(splits[split]),
                                          sum(len(roll) for _, roll in splits[split])))
    return dest
