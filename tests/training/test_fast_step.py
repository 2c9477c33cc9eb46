"""The fast call path of the training loops (dltut.training.fast_step): a compiled step run
through its virtual machine directly must compute exactly what ``step(index)`` computes.

Each test builds the same model twice from the same seeds, trains one copy with plain calls
and the other through ``fast_step``, and compares the returned costs, the parameters and the
random streams' states bit for bit (in the floatX the pass runs in: float32 and float64):
a supervised MLP (compile_functions, minibatches of 1 and 20), the SdA's pre-training
functions (keyword inputs ``corruption`` and ``lr``, masking noise from MRG_RandomStreams)
and a PCD RBM (sampling, a persistent chain).
"""
import functools

import numpy
import pytest

import _tiny
import dltut  # noqa: F401  (Theano set-up before anything imports theano)
from _helpers import assert_same_arrays, without_elapsed
import theano
import theano.tensor as T

from dltut.autoencoders import SdA, random_state_variables
from dltut.data import shared_dataset
from dltut.rbm import RBM, persistent_chain, random_streams
from dltut.training import (FastStep, PretrainLayer, Pretrainer, TrainConfig, Trainer,
                            compile_functions, fast_step)

STEPS = 12


def values(shared):
    return [v.get_value(borrow=False) for v in shared]


def run(step, indices):
    return [numpy.array(step(i), copy=True) for i in indices]


def assert_same_costs(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        numpy.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------- supervised
def supervised(batch_size):
    model, x, y = _tiny.mlp(seed=5)
    config = TrainConfig(learning_rate=0.1, batch_size=batch_size, L2_reg=0.001)
    return compile_functions(model, x, y, _tiny.shared(_tiny.splits((60, 20, 20))), config)


@pytest.mark.parametrize("batch_size", [1, 20])
def test_fast_step_of_a_supervised_step_gives_the_plain_calls_costs_and_parameters(batch_size):
    plain, fast = supervised(batch_size), supervised(batch_size)
    assert_same_arrays(values(plain.params), values(fast.params))
    step = fast_step(fast.train_model)
    assert isinstance(step, FastStep)
    indices = [i % plain.n_train_batches for i in range(STEPS)]
    assert_same_costs(run(plain.train_model, indices), run(step, indices))
    assert_same_arrays(values(plain.params), values(fast.params))
    # and the parameters moved: the comparison above is not of two untouched models
    assert not numpy.array_equal(values(fast.params)[0], values(supervised(batch_size).params)[0])


def test_a_trainer_with_fast_calls_walks_the_path_of_one_without():
    results = []
    for fast_calls in (False, True):
        compiled = supervised(20)
        config = TrainConfig(learning_rate=0.1, batch_size=20, L2_reg=0.001, n_epochs=3)
        trainer = Trainer(compiled, config, log=None, progress=False, fast_calls=fast_calls)
        results.append((trainer.run(), values(compiled.params)))
    (plain, plain_params), (fast, fast_params) = results
    assert without_elapsed(plain.history) == without_elapsed(fast.history)
    assert_same_arrays(plain_params, fast_params)


# --------------------------------------------------------------------------- sampling models
def small_sda(train_x):
    sda = SdA(numpy_rng=numpy.random.RandomState(89677), n_ins=16, hidden_layers_sizes=(8, 6),
              n_outs=3, corruption_levels=(0.3, 0.2))
    return sda, sda.pretraining_functions(train_set_x=train_x, batch_size=1)


def training_x(n=40):
    x, _ = _tiny.blobs(n, seed=3)
    return shared_dataset(1 / (1 + numpy.exp(-x)), numpy.zeros(n, dtype="int64"))[0]


@pytest.mark.parametrize("layer", [0, 1])
def test_fast_step_of_the_sdas_pretraining_keeps_its_corruption_lr_and_random_stream(layer):
    train_x = training_x()
    (sda_a, fns_a), (sda_b, fns_b) = small_sda(train_x), small_sda(train_x)
    da_a, da_b = sda_a.dA_layers[layer], sda_b.dA_layers[layer]
    shared_a = da_a.params + random_state_variables(fns_a[layer], da_a.params)
    shared_b = da_b.params + random_state_variables(fns_b[layer], da_b.params)
    assert len(shared_a) == len(da_a.params) + 1  # the mask's random state
    plain = functools.partial(fns_a[layer], corruption=0.3, lr=0.05)
    fast = fast_step(functools.partial(fns_b[layer], corruption=0.3, lr=0.05))
    assert isinstance(fast, FastStep)
    # a plain call in between (which puts the inputs' defaults 0.2 and 0.1 back) changes nothing
    costs_a = run(plain, range(STEPS))
    costs_b = run(fast, range(5)) + run(functools.partial(fns_b[layer], corruption=0.3,
                                                          lr=0.05), [5]) + run(fast, range(6, STEPS))
    assert_same_costs(costs_a, costs_b)
    assert_same_arrays(values(shared_a), values(shared_b))
    # the keyword inputs were used: the defaults (corruption 0.2, lr 0.1) give other costs
    _, fns_c = small_sda(train_x)
    assert not numpy.array_equal(costs_a, run(fast_step(fns_c[layer]), range(STEPS)))


def pcd_rbm(train_x):
    x, index = T.matrix("x"), T.lscalar("index")
    rng = numpy.random.RandomState(123)
    rbm = RBM(input=x, n_visible=16, n_hidden=5, numpy_rng=rng, theano_rng=random_streams(rng))
    chain = persistent_chain(4, 5)
    cost, updates = rbm.get_cost_updates(lr=0.1, persistent=chain, k=3)
    fn = theano.function([index], cost, updates=updates,
                         givens={x: train_x[index * 4:(index + 1) * 4]})
    return fn, rbm.params + random_state_variables(fn, rbm.params)


def test_fast_step_of_a_pcd_rbm_advances_its_chain_and_random_stream_as_plain_calls_do():
    train_x = training_x()
    (fn_a, shared_a), (fn_b, shared_b) = pcd_rbm(train_x), pcd_rbm(train_x)
    assert any(v.name == "persistent_chain" for v in shared_b)
    indices = [i % 10 for i in range(STEPS)]
    assert_same_costs(run(fn_a, indices), run(fast_step(fn_b), indices))
    assert_same_arrays(values(shared_a), values(shared_b))


def test_a_pretrainer_with_fast_calls_walks_the_path_of_one_without():
    train_x = training_x()
    results = []
    for fast_calls in (False, True):
        sda, fns = small_sda(train_x)
        layers = [PretrainLayer("layer %d" % i, functools.partial(fn, corruption=level, lr=0.05),
                                da.params, state=random_state_variables(fn, da.params))
                  for i, (fn, da, level) in enumerate(zip(fns, sda.dA_layers, (0.3, 0.2)))]
        trainer = Pretrainer(layers, 40, 2, log=None, progress=False, fast_calls=fast_calls)
        result = trainer.run()
        results.append((result, values(trainer.shared)))
    (plain, plain_values), (fast, fast_values) = results
    assert fast.stopped_by == "n_epochs"
    assert without_elapsed(plain.history) == without_elapsed(fast.history)
    assert_same_arrays(plain_values, fast_values)


# --------------------------------------------------------------------------- where it does not apply
def test_fast_step_leaves_what_it_cannot_run_as_it_is():
    def python_step(index):
        return index

    assert fast_step(python_step) is python_step
    index, extra = T.lscalar("index"), T.scalar("extra")
    needs_extra = theano.function([index, extra], index * extra)
    assert fast_step(needs_extra) is needs_extra  # a required input besides the index
    partial = functools.partial(needs_extra, 3)
    assert fast_step(partial) is partial          # positional arguments: left alone
    bound = fast_step(functools.partial(needs_extra, extra=2.0))
    assert isinstance(bound, FastStep) and float(bound(3)) == 6.0
    with pytest.raises(ValueError, match="no input named 'missing'"):
        FastStep(needs_extra, {"extra": 1.0, "missing": 2.0})


def test_fast_step_takes_the_indices_a_plain_call_takes_and_refuses_the_others_alike():
    index = T.lscalar("index")
    function = theano.function([index], index * 2)
    step = fast_step(function)
    for value in (3, numpy.int32(3), numpy.int64(3), numpy.asarray(3)):
        assert int(step(value)) == int(function(value)) == 6
    for bad in (2 ** 70, 1.5, "3"):
        with pytest.raises(Exception) as plain:
            function(bad)
        with pytest.raises(type(plain.value)):
            step(bad)
