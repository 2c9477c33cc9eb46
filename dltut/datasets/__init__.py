"""The dataset file formats (:mod:`~dltut.datasets.formats`): the checks every split passes,
the safe reader of gzipped pickles and the IDX reader.  Finding, fetching and loading the
datasets is :mod:`dltut.data`, which re-exports these names."""
