"""Everything is in pyproject.toml except the one C extension (setuptools' pyproject form of it is experimental).

instructkit.filters._speedups: the filter rules' hottest text helpers (filters/_speedups.c): the repetition
rule's n-gram checks, word counts and normalisation of ASCII text, phrase lookup. optional: without a C
compiler the install goes on and filters/analysis.py and ngrams.py run the same code in Python.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("instructkit.filters._speedups", ["instructkit/filters/_speedups.c"], optional=True)])
