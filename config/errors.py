"""Every error medic raises on purpose derives from MedicError."""


class MedicError(Exception):
    """Root of medic's own errors."""


class ConfigError(MedicError):
    """Settings, rules or plans are invalid; the message names the setting, file or entry."""


class StorageUnavailable(MedicError):
    """The database cannot be reached now; the work must be retried, not dropped."""


class NotFound(MedicError):
    """An id given by an operator names nothing."""


class InvalidTransition(MedicError):
    """An operator asked for a change the current state does not allow (cancel a finished execution)."""
