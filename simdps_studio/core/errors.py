"""The one exception hierarchy of SimDPS Studio.

Every error meant for the user derives from :class:`SimDPSError`; its message is a single line that
the CLI prints after ``error:`` and the GUI shows in a dialog. ``exit_code`` is the CLI's status.
"""


class SimDPSError(Exception):
    """Base class for every error SimDPS Studio raises on purpose."""

    exit_code = 1


class InputError(SimDPSError):
    """Bad arguments or unusable input: unreadable audio, invalid gap, bad output path."""

    exit_code = 2


class NotAvailableError(InputError):
    """A requested feature or engine does not exist (yet) in this installation."""


class ProjectError(InputError):
    """A project file that cannot be used (corrupt, or its source audio changed)."""


class ModelError(InputError):
    """A model checkpoint that is missing, corrupt or does not match its configuration."""


class NoCandidateError(InputError):
    """No valid candidate position exists for a gap."""


class CancelledError(SimDPSError):
    """Long work stopped because the user cancelled it."""

    exit_code = 1


class ExportError(SimDPSError):
    """A result could not be written (a full disk, a folder that became unwritable)."""

    exit_code = 1


def quoted(name: object) -> str:
    """A file name for a one-line message: as it is when plain, else quoted with its control
    characters escaped (Python's ``repr``), so that a newline in a name cannot split the line and
    spaces or colons cannot blur where it ends.

    >>> quoted("/music/take.wav"), quoted("my take.wav"), quoted("a\\nb.wav")
    ('/music/take.wav', "'my take.wav'", "'a\\\\nb.wav'")
    """
    text = str(name)
    plain = text.isprintable() and not any(c.isspace() or c in "'\"\\" for c in text)
    return text if plain and text else repr(text)


def one_line(text: str) -> str:
    """``text`` with control characters (a newline from a library's message) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
