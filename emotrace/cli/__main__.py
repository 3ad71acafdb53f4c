"""``python -m emotrace.cli``: the installed ``emotrace`` command without the console script."""

from emotrace.cli.app import app

app()
