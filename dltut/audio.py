"""Piano rolls as sound: to hear what the RNN-RBM composes.

Two renderers, both offline (nothing is played here: a notebook shows the samples with
``IPython.display.Audio``, or :func:`write_wav` writes them to a file):

* ``"fluidsynth"``: the roll is written as MIDI (:func:`dltut.datasets.jsb.write_midi`, a
  piano) and rendered by the `FluidSynth <https://www.fluidsynth.org>`_ program with a General
  MIDI sound font (on Debian: ``apt-get install fluidsynth fluid-soundfont-gm``);
* ``"numpy"``: plain additive synthesis, for where FluidSynth or a sound font is missing: each
  held note is a sum of sine partials at whole multiples of its pitch's frequency
  (``440 * 2 ** ((pitch - 69) / 12)`` Hz), with short linear fades at both ends so that notes
  start and stop without a click.

:func:`render_roll` picks FluidSynth when it can (``renderer="auto"``) and says which one it
used.  Samples are float32 in [-1, 1], one channel.  This module imports numpy and the
standard library only (mido through :mod:`dltut.datasets.jsb`, for the MIDI file).
"""
import io
import math
import os
import pathlib
import shutil
import subprocess
import tempfile
import wave

import numpy

from . import checks

__all__ = ["SAMPLE_RATE", "PARTIALS", "FADE_SECONDS", "PEAK", "TAIL_SECONDS", "SOUND_FONTS", "RENDERERS",
           "INSTALL_HINT", "pitch_frequency", "note_runs", "synthesize", "find_sound_font",
           "fluidsynth_available", "render_midi", "render_roll", "write_wav", "read_wav"]

#: Samples per second of the rendered sound (enough for the chorales' partials).
SAMPLE_RATE = 22050
#: Relative amplitudes of the numpy renderer's partials: the fundamental, the octave, ...
PARTIALS = (1.0, 0.4, 0.2, 0.1)
#: Length of the numpy renderer's fade in and fade out of each note, seconds.
FADE_SECONDS = 0.01
#: Both renderers scale their output so that its largest sample is this.
PEAK = 0.8
#: FluidSynth's sound is cut this many seconds after the piece's last step (the release).
TAIL_SECONDS = 1.0
#: Where Debian's General MIDI sound fonts are installed (the first found is used).
SOUND_FONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
               "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
               "/usr/share/soundfonts/default.sf2")
#: What ``renderer=`` takes.
RENDERERS = ("auto", "fluidsynth", "numpy")
#: How to get FluidSynth and a sound font.
INSTALL_HINT = ("install FluidSynth and a General MIDI sound font (Debian: apt-get install "
                "fluidsynth fluid-soundfont-gm), or use renderer='numpy'")


def pitch_frequency(pitch):
    """The frequency in Hz of MIDI pitch ``pitch`` in equal temperament (69 is A4, 440 Hz)."""
    return 440.0 * 2.0 ** ((numpy.asarray(pitch, dtype=numpy.float64) - 69) / 12.0)


def _roll(roll, r):
    """``roll`` as a boolean (T, r[1] - r[0]) array, or a ValueError naming its shape."""
    roll = numpy.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != r[1] - r[0]:
        raise ValueError("roll has shape %s, expected (T, %d) for r=%r; give a piano roll of "
                         "that pitch range" % (roll.shape, r[1] - r[0], tuple(r)))
    return roll > 0.5


def note_runs(roll):
    """The held notes of a piano roll: ``[(column, first step, end step), ...]`` (end
    excluded), consecutive 1s of a column being one note (as
    :func:`dltut.datasets.jsb.write_midi` writes them), in order of onset then column."""
    roll = numpy.asarray(roll) > 0.5
    padded = numpy.vstack([numpy.zeros((1, roll.shape[1]), bool), roll,
                           numpy.zeros((1, roll.shape[1]), bool)])
    onsets = numpy.argwhere(padded[1:-1] & ~padded[:-2])   # (step, column) where a note starts
    runs = []
    for step, column in onsets:
        end = step + 1
        while end < len(roll) and roll[end, column]:
            end += 1
        runs.append((int(column), int(step), int(end)))
    return sorted(runs, key=lambda run: (run[1], run[0]))


def synthesize(roll, r=(21, 109), dt=0.3, sample_rate=SAMPLE_RATE, partials=PARTIALS,
               fade=FADE_SECONDS):
    """The numpy renderer: a piano roll as sine partials, float32 samples in [-1, 1].

    Parameters
    ----------
    roll : array, shape (T, r[1] - r[0])
        1 (or > 0.5) where a pitch sounds; column ``j`` is MIDI pitch ``r[0] + j``.
    r : (int, int)
        The roll's pitch range.
    dt : float
        Seconds per time step.
    sample_rate : int
    partials : sequence of float
        Amplitude of partial ``k`` (frequency ``k * f``, k = 1, 2, ...); partials at or
        above half the sample rate are left out.
    fade : float
        Seconds of linear fade in at the start of each note and fade out after its end.

    Returns
    -------
    numpy.ndarray, float32, shape (round(T * dt * sample_rate) + fade samples,)
        Scaled so that the largest sample is :data:`PEAK` (all zeros for a silent roll).
    """
    roll = _roll(roll, r)
    dt = checks.positive_float(dt, "dt")
    sample_rate = checks.positive_int(sample_rate, "sample_rate")
    fade = checks.non_negative_float(fade, "fade")
    partials = [checks.non_negative_float(a, "partials[%d]" % i) for i, a in enumerate(partials)]
    n_fade = int(round(fade * sample_rate))
    samples = numpy.zeros(int(round(len(roll) * dt * sample_rate)) + n_fade, numpy.float64)
    for column, first, end in note_runs(roll):
        start, stop = (int(round(step * dt * sample_rate)) for step in (first, end))
        time = numpy.arange(stop - start + n_fade) / float(sample_rate)
        frequency = float(pitch_frequency(r[0] + column))
        tone = numpy.zeros_like(time)
        for k, amplitude in enumerate(partials, start=1):
            if amplitude and k * frequency < sample_rate / 2.0:
                tone += amplitude * numpy.sin(2 * math.pi * k * frequency * time)
        if n_fade:   # up over the first n_fade samples, down over the n_fade after the end
            envelope = numpy.minimum(1.0, numpy.arange(1, len(time) + 1) / float(n_fade))
            envelope = numpy.minimum(envelope, (len(time) - numpy.arange(len(time))) / float(n_fade))
            tone *= envelope
        samples[start:start + len(tone)] += tone
    peak = numpy.abs(samples).max() if samples.size else 0.0
    if peak > 0:
        samples *= PEAK / peak
    return samples.astype(numpy.float32)


def find_sound_font(sound_font=None):
    """The sound font to render with: ``sound_font`` if given (FileNotFoundError in one line
    if it is not a file), else the first of :data:`SOUND_FONTS` found, else None."""
    if sound_font is not None:
        path = pathlib.Path(sound_font).expanduser()
        if not path.is_file():
            raise FileNotFoundError("sound font %s is not a file; give a .sf2 file or leave it "
                                    "out to use %s" % (path, SOUND_FONTS[0]))
        return path
    for candidate in SOUND_FONTS:
        if os.path.isfile(candidate):
            return pathlib.Path(candidate)
    return None


def fluidsynth_available(sound_font=None):
    """True when the ``fluidsynth`` program and a sound font (see :func:`find_sound_font`)
    are both there."""
    try:
        return shutil.which("fluidsynth") is not None and find_sound_font(sound_font) is not None
    except FileNotFoundError:
        return False


def render_midi(midi_path, sound_font=None, sample_rate=SAMPLE_RATE, gain=0.6, timeout=120):
    """A MIDI file rendered by FluidSynth: float32 samples in [-1, 1], one channel (its two
    channels averaged).

    Runs ``fluidsynth -ni -g GAIN -r RATE -T wav -O s16 -F OUT.wav SOUND_FONT MIDI`` (file
    output, faster than real time, nothing played).  FileNotFoundError in one line when the
    program or a sound font is missing; RuntimeError with FluidSynth's last line when it
    fails."""
    sample_rate = checks.positive_int(sample_rate, "sample_rate")
    gain = checks.positive_float(gain, "gain")
    program = shutil.which("fluidsynth")
    if program is None:
        raise FileNotFoundError("the fluidsynth program is not installed; " + INSTALL_HINT)
    font = find_sound_font(sound_font)
    if font is None:
        raise FileNotFoundError("no General MIDI sound font found (looked for %s); %s"
                                % (", ".join(SOUND_FONTS), INSTALL_HINT))
    midi_path = pathlib.Path(midi_path)
    if not midi_path.is_file():
        raise FileNotFoundError("%s is not a file; give a MIDI file" % midi_path)
    with tempfile.TemporaryDirectory(prefix="dltut-audio-") as folder:
        out = os.path.join(folder, "rendered.wav")
        command = [program, "-ni", "-g", "%g" % gain, "-r", str(sample_rate), "-T", "wav",
                   "-O", "s16", "-F", out, str(font), str(midi_path)]
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if done.returncode != 0 or not os.path.isfile(out):
            last = ([line for line in done.stdout.splitlines() if line.strip()] or ["no output"])[-1]
            raise RuntimeError("fluidsynth failed on %s (exit code %d): %s"
                               % (midi_path, done.returncode, last))
        samples, rate = read_wav(out)
    if rate != sample_rate:
        raise RuntimeError("fluidsynth rendered at %d Hz where %d Hz was asked; give a "
                           "sample_rate it supports (e.g. 22050 or 44100)" % (rate, sample_rate))
    return samples


def render_roll(roll, r=(21, 109), dt=0.3, sample_rate=SAMPLE_RATE, renderer="auto",
                sound_font=None, path=None):
    """A piano roll as sound: ``(samples, renderer)``, float32 samples in [-1, 1] (one
    channel) and the name of the renderer that made them.

    The samples are scaled so that the largest is :data:`PEAK`; FluidSynth's are cut
    :data:`TAIL_SECONDS` after the piece's end.  ``renderer="auto"`` uses FluidSynth with a General MIDI sound font where both (and mido,
    for the MIDI file) are installed, and :func:`synthesize` otherwise; ``"fluidsynth"`` or
    ``"numpy"`` asks for one (FileNotFoundError in one line if FluidSynth cannot be used).
    With ``path``, the samples are also written there as a 16-bit WAV file
    (:func:`write_wav`)."""
    renderer = checks.one_of(renderer, "renderer", RENDERERS)
    roll = _roll(roll, r)
    if renderer == "auto":
        try:
            import mido  # noqa: F401  (writing the MIDI file needs it)
            usable = fluidsynth_available(sound_font)
        except ImportError:
            usable = False
        renderer = "fluidsynth" if usable else "numpy"
    if renderer == "numpy":
        samples = synthesize(roll, r, dt, sample_rate)
    else:
        from .datasets.jsb import write_midi
        with tempfile.TemporaryDirectory(prefix="dltut-audio-") as folder:
            midi = write_midi(os.path.join(folder, "piece.mid"), roll, r, dt)
            samples = render_midi(midi, sound_font, sample_rate)
        # the piece and at most TAIL_SECONDS of the last notes dying away, as loud as numpy's
        samples = samples[:int(round((len(roll) * dt + TAIL_SECONDS) * sample_rate))]
        peak = numpy.abs(samples).max() if samples.size else 0.0
        if peak > 0:
            samples = (samples * (PEAK / peak)).astype(numpy.float32)
    if path is not None:
        write_wav(path, samples, sample_rate)
    return samples, renderer


def write_wav(path, samples, sample_rate=SAMPLE_RATE):
    """Write float samples in [-1, 1] (one channel; values beyond are clipped) as a 16-bit PCM
    WAV file, atomically; returns the path."""
    from .runs.checkpoint import atomic_write
    sample_rate = checks.positive_int(sample_rate, "sample_rate")
    samples = numpy.asarray(samples, dtype=numpy.float64)
    if samples.ndim != 1:
        raise ValueError("samples has shape %s; give one channel, a 1-d array" % (samples.shape,))
    pcm = numpy.round(numpy.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
    atomic_write(path, buffer.getvalue())
    return pathlib.Path(path)


def read_wav(path):
    """``(samples, sample_rate)`` of an 8-, 16- or 32-bit PCM WAV file: float32 in [-1, 1],
    its channels averaged into one."""
    try:
        with wave.open(os.fspath(path), "rb") as handle:
            width, channels = handle.getsampwidth(), handle.getnchannels()
            rate, frames = handle.getframerate(), handle.readframes(handle.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError("%s is not a PCM WAV file (%s); give a WAV file" % (path, error)) from None
    if width == 1:
        data = (numpy.frombuffer(frames, numpy.uint8).astype(numpy.float64) - 128) / 128.0
    elif width in (2, 4):
        data = numpy.frombuffer(frames, "<i%d" % width).astype(numpy.float64) / 2.0 ** (8 * width - 1)
    else:
        raise ValueError("%s holds %d-bit samples; give a WAV file of 8-, 16- or 32-bit samples"
                         % (path, 8 * width))
    return data.reshape(-1, channels).mean(axis=1).astype(numpy.float32), rate
