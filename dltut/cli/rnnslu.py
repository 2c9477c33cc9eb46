"""``scripts/rnnslu.py``: train the Elman RNN for slot filling on a file of the ATIS format
(the tutorial's ``rnnslu.py``).

The tutorial's run: fold 3, 200 hidden units, embeddings of 50, a context window of 7 words,
learning rate 0.0970806646812754 halved when the best validation F1 is 10 epochs old, 60
epochs, seed 345.  Training is dltut's one loop (:class:`dltut.training.Pretrainer` over
:class:`dltut.recurrent.SentenceEpochs`, one step per sentence): a run folder with a checkpoint
at the end of every epoch (and every few minutes), Ctrl-C writing one, ``--resume``
continuing, a diverged run stopped.  Each epoch logs its mean sentence NLL and both F1s; a
new best prints the tutorial's ``NEW BEST: epoch ... valid F1 ... best test F1 ...`` and
writes the predictions in conlleval's format (``best.valid.txt``, ``best.test.txt``) and the
parameters (``best_model.npz``) into the run folder; the end prints ``BEST RESULT: ...``.
"""
import argparse
import io
import os
import sys
import time

from .common import (EXIT_DIVERGED, EXIT_INTERRUPTED, CLIError, DefaultsHelpFormatter,
                     OneLineParser, report_failures, script_command, usage_error)
from .. import checks

__all__ = ["build_parser", "main", "DEFAULTS", "load_slu_data", "conll_lines"]

NAME = "rnnslu"
#: The tutorial's ``param`` dict (its main()).
DEFAULTS = dict(fold=3, lr=0.0970806646812754, decay=True, win=7, nhidden=200, seed=345,
                emb_dimension=50, nepochs=60)
#: The flags a resumed run may change; the rest come from the run's config.json.
CHANGEABLE = ("nepochs", "quiet")


def build_parser():
    d = DEFAULTS
    parser = OneLineParser(prog="rnnslu.py", formatter_class=DefaultsHelpFormatter,
                           description="Train the Elman RNN for slot filling on ATIS-format "
                                       "data (the tutorial's rnnslu.py).")
    number = checks.flag_type
    parser.add_argument("--dataset", default=None,
                        help="an ATIS-format file (atis.fold3.pkl.gz), or a folder holding "
                             "atis.fold<FOLD>.pkl.gz (default: data/atis.synthetic.pkl.gz, a "
                             "synthetic task generated once: python -m dltut.data fetch "
                             "atis-synthetic)")
    parser.add_argument("--fold", type=number(checks.non_negative_int), default=d["fold"],
                        help="the fold (0-4) read from a --dataset folder")
    parser.add_argument("--nepochs", "--epochs", type=number(checks.positive_int),
                        default=d["nepochs"])
    parser.add_argument("--lr", "--learning-rate", type=number(checks.positive_float),
                        default=d["lr"], help="the first learning rate")
    parser.add_argument("--no-decay", dest="decay", action="store_false",
                        help="keep the learning rate (the tutorial halves it when the best "
                             "validation F1 is 10 epochs old)")
    parser.add_argument("--win", type=number(checks.positive_int), default=d["win"],
                        help="words of the context window (odd)")
    parser.add_argument("--nhidden", type=number(checks.positive_int), default=d["nhidden"],
                        help="hidden units")
    parser.add_argument("--emb-dimension", type=number(checks.positive_int),
                        default=d["emb_dimension"], help="size of a word embedding")
    parser.add_argument("--seed", type=number(checks.seed_int), default=d["seed"],
                        help="seed of the initial weights and of the shuffling (345, the "
                             "tutorial's)")
    parser.add_argument("--out", default=None,
                        help="the run folder (default: a new runs/rnnslu-<timestamp>)")
    parser.add_argument("--resume", default=None, metavar="RUN_DIR",
                        help="continue the run in RUN_DIR (its settings; --nepochs may change)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def _explicit(argv):
    """The flags given on the command line (their dest names)."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def load_slu_data(dataset, fold, say):
    """``((train, valid, test, dicts), source)`` from ``--dataset`` (see the flag)."""
    from ..datasets import atis
    if dataset is None:
        from ..data import default_data_dir
        path = default_data_dir() / atis.ATIS_SYNTHETIC_FILE
        if not path.is_file():
            say("making %s: %s" % (path, atis.describe_atis_synthetic()))
            atis.fetch_atis_synthetic(path, quiet=True)
        return atis.load_atis(path), str(path)
    if os.path.isdir(dataset):
        try:
            checks.one_of(fold, "--fold", atis.ATIS_FOLDS)
        except ValueError as error:
            raise usage_error(error) from None
        path = os.path.join(dataset, atis.atis_filename(fold))
        return atis.load_atis(path), path
    return atis.load_atis(dataset), dataset


def conll_lines(words, truth, predictions):
    """The text the tutorial hands to conlleval.pl: per sentence ``BOS O O``, one ``word
    true predicted`` line per word, ``EOS O O`` and an empty line."""
    out = io.StringIO()
    for sentence_words, sentence_truth, sentence_predictions in zip(words, truth, predictions):
        out.write("BOS O O\n")
        for word, true, predicted in zip(sentence_words, sentence_truth, sentence_predictions):
            out.write("%s %s %s\n" % (word, true, predicted))
        out.write("EOS O O\n\n")
    return out.getvalue()


def _run(argv):
    from ..runs.rundir import BEST_MODEL, CONFIG, SUMMARY, RunDir
    parser = build_parser()
    args = parser.parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda line: print(line, flush=True))
    if args.win % 2 != 1:
        raise CLIError("--win must be odd (a window centred on each word), got %d; give e.g. 7"
                       % args.win)
    if args.resume:
        if args.out:
            raise CLIError("give --resume or --out, not both; --resume continues its own folder")
        run_dir = RunDir.open(args.resume)
        saved = run_dir.read_json(CONFIG).get("args", {})
        given = _explicit(argv)
        for key, value in saved.items():
            if key not in ("resume", "out") and not (key in CHANGEABLE and key in given):
                setattr(args, key, value)
    else:
        run_dir = RunDir.create(args.out, script=NAME)
    started = False
    try:
        import numpy
        import theano

        from ..recurrent import RNNSLU, SentenceEpochs
        from ..training import Pretrainer, PretrainLayer
        (train_set, valid_set, test_set, dicts), source = load_slu_data(
            args.dataset, args.fold, say)
        idx2label = {index: name for name, index in dicts["labels2idx"].items()}
        idx2word = {index: name for name, index in dicts["words2idx"].items()}
        say("%s: %d training sentences, %d words, %d labels" % (
            source, len(train_set[0]), len(dicts["words2idx"]), len(idx2label)))
        model = RNNSLU(nh=args.nhidden, nc=len(idx2label), ne=len(dicts["words2idx"]),
                       de=args.emb_dimension, cs=args.win,
                       rng=numpy.random.RandomState(args.seed))
        epochs = SentenceEpochs(model, train_set, valid_set, test_set, idx2label,
                                learning_rate=args.lr, decay=args.decay, seed=args.seed)
        words = [[[idx2word[int(i)] for i in x] for x in s[0]] for s in (valid_set, test_set)]
        truth = [[[idx2label[int(i)] for i in y] for y in s[2]] for s in (valid_set, test_set)]
        trainer = None

        def summarize(costs):   # the end of the tutorial's epoch
            epoch = trainer.state.epoch
            end = epochs.end_epoch(epoch)
            if end["new_best"]:
                say("NEW BEST: epoch %d valid F1 %r best test F1 %r"
                    % (epoch, end["valid"]["f1"], end["test"]["f1"]))
                for name, w, t, p in zip(("valid", "test"), words, truth, end["predictions"]):
                    run_dir.write_bytes("best.%s.txt" % name, conll_lines(w, t, p).encode())
                run_dir.save_best_model([p.get_value() for p in model.params],
                                        dict(model.spec(), epoch=epoch, **end["valid"]))
            if end["halved"]:
                say("epoch %d: the best is %d epochs old: learning rate halved to %r%s"
                    % (epoch, epoch - epochs.best["epoch"], epochs.learning_rate,
                       ", the network set back to epoch %d's" % epochs.best["epoch"]
                       if end["restored"] else ""))
            return {"cost": numpy.mean(costs, dtype="float64"),
                    "valid_f1": end["valid"]["f1"], "test_f1": end["test"]["f1"],
                    "valid_p": end["valid"]["p"], "valid_r": end["valid"]["r"],
                    "lr": epochs.learning_rate, "new_best": float(end["new_best"])}

        layer = PretrainLayer(NAME, epochs, model.params, state=epochs.state,
                              outputs=("cost",), summarize=summarize,
                              log_format="epoch {epoch}: mean NLL {cost!r}, valid F1 "
                                         "{valid_f1:.2f}, test F1 {test_f1:.2f}")
        trainer = Pretrainer([layer], epochs.n_batches, args.nepochs, model=model,
                             run_dir=run_dir, log=say)

        def stop_if_done(index, done):   # the tutorial's break below 1e-5
            if epochs.stop:
                say("learning rate %r is below %g: stopped" % (epochs.learning_rate,
                                                                epochs.MIN_LEARNING_RATE))
                trainer.state.stopped_by = "n_epochs"
        trainer.on_epoch_end = stop_if_done
        if args.resume:
            trainer.load_checkpoint()
            say("resumed at epoch %d" % trainer.state.epoch)
        else:
            run_dir.write_json(CONFIG, {"experiment": NAME, "args": vars(args),
                                        "floatX": theano.config.floatX, "source": source})
        started = True
        begun = time.perf_counter()
        if epochs.stop:
            say("the learning rate fell below %g: the run is finished"
                % epochs.MIN_LEARNING_RATE)
        else:
            result = trainer.run()
            if result.diverged:
                raise CLIError("training diverged (%s); try a smaller --lr"
                               % result.divergence, EXIT_DIVERGED)
            if result.interrupted:
                raise CLIError("interrupted; the last checkpoint is kept: resume with: %s"
                               % script_command(NAME, "--resume", run_dir), EXIT_INTERRUPTED)
        seconds = time.perf_counter() - begun
        best = epochs.best
        say("BEST RESULT: epoch %d valid F1 %r best test F1 %r with the model %s"
            % (best["epoch"], best["valid_f1"], best["test_f1"], run_dir.file(BEST_MODEL)))
        run_dir.write_json(SUMMARY, {"history": trainer.history, "seconds": round(seconds, 3),
                                     "best": best})
        return 0
    finally:
        if started:
            run_dir.unlock()
        else:
            run_dir.abandon()


def main(argv=None):
    """Parse ``argv``, train, write the run folder; returns the process exit code."""
    return report_failures("rnnslu.py", _run, argv)


if __name__ == "__main__":
    sys.exit(main())
