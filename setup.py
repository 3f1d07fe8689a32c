"""Everything is in pyproject.toml except the one C extension (setuptools' pyproject form of it is experimental).

instructkit.filters._ngrams: the repetition rule's n-gram checks (filters/_ngrams.c, about 10x faster than
the Python path). optional: without a C compiler the install goes on and filters/analysis.py runs the
same checks in Python.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("instructkit.filters._ngrams", ["instructkit/filters/_ngrams.c"], optional=True)])
