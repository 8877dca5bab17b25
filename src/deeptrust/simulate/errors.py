"""The simulator's one error type: bad arguments or data, said in words, never a traceback."""


class SimulateError(ValueError):
    """What was wrong with the arguments, the data or the service, and how to fix it."""
