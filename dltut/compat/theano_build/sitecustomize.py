"""Lets Theano 1.0.5's ``setup.py`` run on Python 3.12 and later (build time only).

Theano 1.0.5 exists on PyPI only as a source archive, and the ``versioneer.py`` its
``setup.py`` imports calls ``configparser.SafeConfigParser`` and ``RawConfigParser.readfp``,
two names Python 3.12 removed (their current names are ``ConfigParser`` and
``read_file``).  Put this folder on ``PYTHONPATH`` for the one ``pip install`` that builds
Theano, without build isolation, and Python imports this file at start-up and restores
the two names; nothing of Theano is edited.  The path must be absolute: pip runs Theano's
``setup.py`` in a temporary folder, where a relative one names nothing::

    PYTHONPATH=$PWD/dltut/compat/theano_build python -m pip install --no-build-isolation Theano==1.0.5

It is never imported at run time.
"""
import configparser

if not hasattr(configparser, "SafeConfigParser"):
    configparser.SafeConfigParser = configparser.ConfigParser
if not hasattr(configparser.RawConfigParser, "readfp"):
    configparser.RawConfigParser.readfp = configparser.RawConfigParser.read_file
