"""The one exception type for user mistakes and unusable inputs."""


class ImpastoError(Exception):
    """Bad input, a missing file, an unusable model: the CLI prints the message as one line and exits non-zero."""
