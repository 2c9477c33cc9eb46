"""Toy music for tests/recurrent: numpy only, so that a fresh process (the faithfulness test's)
can import it without the test helpers."""
import numpy


def toy_chorales(lengths=(130, 70, 205, 40), seed=7, n_visible=88):
    """Four-voice toy 'chorales': piano rolls (T, 88) of 0/1 float64, each voice a random walk
    of whole tones and semitones held for random lengths (deterministic in ``seed``)."""
    rng = numpy.random.RandomState(seed)
    rolls = []
    for length in lengths:
        roll = numpy.zeros((length, n_visible))
        voices = numpy.array([22, 31, 38, 45])           # columns: MIDI 43, 52, 59, 66
        for t in range(length):
            moves = rng.randint(-2, 3, size=4) * (rng.uniform(size=4) < 0.4)
            voices = numpy.clip(voices + moves, 0, n_visible - 1)
            roll[t, voices] = 1.0
        rolls.append(roll)
    return rolls
