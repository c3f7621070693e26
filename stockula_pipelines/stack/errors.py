"""Errors raised by the local stack; messages say what to change."""

from __future__ import annotations


class StackError(RuntimeError):
    """The local stack could not be brought up, stopped or inspected."""


class PortInUseError(StackError):
    """A service's port is taken by something that is not this stack's own running service."""

    def __init__(self, service: str, port: int, env_var: str) -> None:
        self.service = service
        self.port = port
        self.env_var = env_var
        super().__init__(
            f"port {port} for {service} is already in use by another process; stop it or choose "
            f"another port with {env_var}=<free port>"
        )
