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


class VerificationFailed(BackupError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_VERIFY_FAILED)
