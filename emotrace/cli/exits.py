"""Exit codes of every ``emotrace`` command, so scripts can tell a bad file from a crash: 0 success,
1 unexpected failure (or a job that failed), 2 bad input (one line ``error: <code>: <message>`` on
stderr)."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
