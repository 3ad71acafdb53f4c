"""The ``emotrace`` command line: terminal input and output only, kept out of the kernel the
service layers share. ``app`` (:mod:`emotrace.cli.app`) declares the commands; ``analyze`` and
``submit`` show progress and write outputs; :mod:`emotrace.cli.exits` holds the exit codes. It is
the one part of the package that may start the API or a worker (``tests/test_layers.py``)."""

from emotrace.cli.app import app

__all__ = ["app"]
