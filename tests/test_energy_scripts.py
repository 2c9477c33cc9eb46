"""scripts/hmc.py, scripts/rbm.py and scripts/DBN.py, end to end on small settings."""
import json

import dltut  # noqa: F401  (Theano set-up first)
import numpy
import pytest

from _cli import call, lines_of

from dltut.checkpoint import load_arrays


# --------------------------------------------------------------------------- hmc.py
def test_hmc_script_prints_the_tutorials_report_and_writes_its_folder(tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = call("hmc", ["--burnin", "50", "--n-samples", "40", "--out", out])
    assert code == 0, stderr
    lines = lines_of(stdout)
    for heading in ("****** TARGET VALUES ******", "****** EMPIRICAL MEAN/COV USING HMC ******",
                    "****** HMC INTERNALS ******"):
        assert heading in lines
    assert lines[-1].startswith("HMC: 120 samples of a 5-D Gaussian")
    summary = json.loads((out / "summary.json").read_text())
    arrays, meta = load_arrays(out / "samples.npz")
    assert arrays["samples"].shape == (120, 5) and meta == {"burnin": 50}
    assert len(arrays["stepsize"]) == 90
    numpy.testing.assert_allclose(summary["empirical_mean"], arrays["samples"].mean(axis=0),
                                  rtol=1e-6)
    assert summary["final_stepsize"] == pytest.approx(float(arrays["stepsize"][-1]))
    assert (out / "hmc.png").stat().st_size > 10000
    config = json.loads((out / "config.json").read_text())
    assert config["args"]["n_steps"] == 20 and config["args"]["seed"] == 12345


@pytest.mark.parametrize("argv, message", [
    (["--stepsize-min", "0.6"], "--stepsize-min 0.6 is larger than --stepsize-max 0.5"),
    (["--initial-stepsize", "0.9"], "--initial-stepsize 0.9 is outside"),
    (["--target-acceptance-rate", "1.2"], "must be in (0, 1), got 1.2"),
    (["--avg-acceptance-slowness", "1"], "--avg-acceptance-slowness must be below 1"),
    (["--dim", "0"], "must be a positive integer, got 0"),
])
def test_hmc_script_refuses_bad_settings_in_one_line(argv, message, tmp_path):
    code, stdout, stderr = call("hmc", argv + ["--out", tmp_path / "run"])
    assert code == 2 and stdout == ""
    assert len(lines_of(stderr)) == 1 and message in stderr and stderr.startswith("hmc.py: error:")
    assert not (tmp_path / "run").exists()
