"""dltut.audio: the numpy renderer's pitches measured by an FFT, its notes and fades by hand,
WAV files, and FluidSynth (where it and a sound font are installed) heard the same way."""
import shutil
import wave

import numpy
import pytest

from dltut import audio

from _helpers import assert_one_error

RATE = 8000


def one_note(pitch, steps=10, r=(21, 109)):
    roll = numpy.zeros((steps, r[1] - r[0]))
    roll[:, pitch - r[0]] = 1
    return roll


def spectrum(samples, rate=RATE):
    """(frequencies, magnitudes) of a Hann-windowed FFT."""
    magnitudes = numpy.abs(numpy.fft.rfft(samples * numpy.hanning(len(samples))))
    return numpy.fft.rfftfreq(len(samples), 1.0 / rate), magnitudes


def strongest(samples, rate=RATE):
    frequencies, magnitudes = spectrum(samples, rate)
    return frequencies[magnitudes.argmax()]


def test_pitch_frequencies_are_equal_temperament_from_a440():
    assert audio.pitch_frequency(69) == 440.0
    numpy.testing.assert_allclose(audio.pitch_frequency([57, 60, 81]),
                                  [220.0, 261.6255653, 880.0], rtol=1e-9)


@pytest.mark.parametrize("pitch, hertz", [(69, 440.0), (60, 261.63), (45, 110.0)])
def test_numpy_renderer_sounds_the_pitch_of_a_one_note_roll(pitch, hertz):
    samples = audio.synthesize(one_note(pitch), dt=0.1, sample_rate=RATE)
    assert samples.dtype == numpy.float32
    assert len(samples) == 10 * 0.1 * RATE + audio.FADE_SECONDS * RATE
    assert abs(numpy.abs(samples).max() - audio.PEAK) < 1e-6
    # one second of sound: FFT bins 1 Hz apart
    assert abs(strongest(samples) - hertz) <= 1.0
    frequencies, magnitudes = spectrum(samples)
    octave = magnitudes[numpy.abs(frequencies - 2 * hertz) <= 1.0].max()
    assert abs(octave / magnitudes.max() - audio.PARTIALS[1] / audio.PARTIALS[0]) < 0.05


def test_numpy_renderer_leaves_out_partials_above_half_the_sample_rate():
    samples = audio.synthesize(one_note(100), dt=0.1, sample_rate=RATE)   # 2637 Hz
    frequencies, magnitudes = spectrum(samples)
    assert abs(strongest(samples) - audio.pitch_frequency(100)) <= 1.0
    # its octave (5274 Hz) would alias to 2726 Hz: nothing sounds there
    assert magnitudes[numpy.abs(frequencies - (RATE - 2 * 2637.0)) <= 3].max() < 1e-3 * magnitudes.max()


def test_numpy_renderer_times_the_notes_and_fades_them():
    roll = numpy.zeros((6, 88))
    roll[0:2, 69 - 21] = 1      # A4 for steps 0-1
    roll[4:6, 81 - 21] = 1      # A5 for steps 4-5, after two silent steps
    dt, fade = 0.25, int(audio.FADE_SECONDS * RATE)
    samples = audio.synthesize(roll, dt=dt, sample_rate=RATE, partials=(1.0,))
    step = int(dt * RATE)
    first, gap, second = samples[:2 * step], samples[2 * step + fade:4 * step], samples[4 * step:]
    assert abs(strongest(first) - 440) <= 4 and abs(strongest(second) - 880) <= 4
    assert not gap.any()
    # linear fade in: the first fade samples stay under the ramp
    ramp = numpy.arange(1, fade + 1) / float(fade) * audio.PEAK
    assert (numpy.abs(first[:fade]) <= ramp + 1e-6).all()
    assert numpy.abs(samples[-1]) < audio.PEAK / fade + 1e-6


def test_note_runs_join_held_steps():
    roll = numpy.zeros((5, 3))
    roll[0:3, 1] = roll[4, 1] = roll[2:5, 0] = 1
    assert audio.note_runs(roll) == [(1, 0, 3), (0, 2, 5), (1, 4, 5)]


def test_silence_and_bad_arguments():
    assert not audio.synthesize(numpy.zeros((3, 88)), sample_rate=RATE).any()
    assert_one_error(ValueError, lambda: audio.synthesize(numpy.zeros((3, 12))),
                     ["roll has shape (3, 12)", "(T, 88)"])
    assert_one_error(ValueError, lambda: audio.synthesize(one_note(60), sample_rate=0),
                     ["sample_rate", "got 0"])
    assert_one_error(ValueError, lambda: audio.render_roll(one_note(60), renderer="midi"),
                     ["renderer", "'midi'", "numpy"])
    assert_one_error(FileNotFoundError, lambda: audio.find_sound_font("/nowhere/font.sf2"),
                     ["/nowhere/font.sf2 is not a file"])


def test_wav_files_round_trip(tmp_path):
    samples = audio.synthesize(one_note(64), dt=0.05, sample_rate=RATE)
    path = audio.write_wav(tmp_path / "a.wav", samples, RATE)
    with wave.open(str(path)) as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (1, 2, RATE)
    back, rate = audio.read_wav(path)
    assert rate == RATE and len(back) == len(samples)
    numpy.testing.assert_allclose(back, samples, atol=2.0 / 32768)   # 16 bits
    (tmp_path / "b.wav").write_bytes(b"RIFF....")
    assert_one_error(ValueError, lambda: audio.read_wav(tmp_path / "b.wav"),
                     ["b.wav is not a PCM WAV file"])


def test_auto_falls_back_to_numpy_without_fluidsynth(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    samples, renderer = audio.render_roll(one_note(69), dt=0.1, sample_rate=RATE,
                                          path=tmp_path / "n.wav")
    assert renderer == "numpy"
    numpy.testing.assert_array_equal(samples, audio.synthesize(one_note(69), dt=0.1,
                                                               sample_rate=RATE))
    assert audio.read_wav(tmp_path / "n.wav")[1] == RATE
    assert_one_error(FileNotFoundError, lambda: audio.render_roll(
        one_note(69), renderer="fluidsynth"), ["fluidsynth program is not installed",
                                               "apt-get install fluidsynth fluid-soundfont-gm"])


@pytest.mark.skipif(not audio.fluidsynth_available(),
                    reason="fluidsynth or a General MIDI sound font is not installed "
                           "(apt-get install fluidsynth fluid-soundfont-gm)")
def test_fluidsynth_plays_the_pitch_of_a_one_note_roll(tmp_path):
    pytest.importorskip("mido")
    samples, renderer = audio.render_roll(one_note(69), dt=0.1, sample_rate=RATE,
                                          path=tmp_path / "f.wav")
    assert renderer == "fluidsynth"
    assert audio.render_roll(one_note(69), dt=0.1, sample_rate=RATE)[1] == "fluidsynth"  # auto
    # the piece (1 s) and at most TAIL_SECONDS of release, scaled to PEAK
    assert RATE <= len(samples) <= (1 + audio.TAIL_SECONDS) * RATE
    assert abs(numpy.abs(samples).max() - audio.PEAK) < 1e-3
    # a piano's A4: its fundamental is the strongest partial
    assert abs(strongest(samples) - 440.0) <= 2.0
    # the sound is in the first second (the note), not after it
    energy = samples.astype(numpy.float64) ** 2
    assert energy[:RATE].sum() > 0.8 * energy.sum()
    back, rate = audio.read_wav(tmp_path / "f.wav")
    assert rate == RATE and len(back) == len(samples)
