"""Errors of the backup code, each with the exit code the CLI returns for it."""

from __future__ import annotations

# Exit codes a script can trust (the CLI documents them): 0 ok, 1 failure, 2 configuration,
# 3 refused (version mismatch, broken chain, target exists), 4 verification failed.
EXIT_FAILED = 1
EXIT_REFUSED = 3
EXIT_VERIFY_FAILED = 4


class BackupError(RuntimeError):
    """A backup, restore or verification step failed; the message says what to do."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code if exit_code in (EXIT_FAILED, EXIT_REFUSED, EXIT_VERIFY_FAILED) else EXIT_FAILED


class RestoreRefused(BackupError):
    """The restore would be unsafe (TimescaleDB version mismatch, broken chain, existing target)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_REFUSED)


class ConnectionLost(BackupError):
    """A database connection died under a restore (backend terminated, server restarted): the step was
    interrupted, which says nothing about the backup itself; running it again is the remedy."""


# What libpq and the server print when a connection goes away under a client (pg_restore, pg_dump).
LOST_CONNECTION = ("terminating connection due to", "server closed the connection unexpectedly",
                   "the database system is shutting down", "server conn crashed")


def lost_connection(stderr: str) -> bool:
    return any(phrase in stderr for phrase in LOST_CONNECTION)


class VerificationFailed(BackupError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_VERIFY_FAILED)
