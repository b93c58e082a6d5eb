"""Errors with messages meant for people.

Every error Lethe raises on bad input derives from :class:`LetheError`; the CLI turns it into a one-line
reason and a non-zero exit code, and the console shows it as an error box. Anything else is a bug.
"""


class LetheError(Exception):
    """Base of every expected failure: the message is the one-line reason shown to the user."""

    exit_code: int = 1


class WorkspaceError(LetheError):
    """The workspace is missing, locked, or holds something other than what was asked for."""


class LedgerIntegrityError(LetheError):
    """The ledger's hash chain, a bulk-table digest or a signature does not verify."""

    exit_code = 3


class SignatureError(LetheError):
    """A signed report or certificate does not verify against the given public key."""

    exit_code = 3


class RequestError(LetheError):
    """An erasure request cannot be filed or run: unknown subject, duplicate, already fulfilled..."""

    exit_code = 2
