"""emotrace's shared kernel: settings, database, jobs, keys, storage, queue, errors and the CLI.

Imports no layer (``api``, ``worker``) except in ``cli.py``, which wires them together.
"""
