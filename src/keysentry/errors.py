"""One exception tree for everything keysentry raises on purpose."""


class KeysentryError(Exception):
    """Base class: a problem keysentry understood and can explain to the user."""


class ConfigError(KeysentryError):
    """The settings are incomplete or contradict each other."""


class SourceError(KeysentryError):
    """A source (file, folder, repository) could not be read."""


class StoreError(KeysentryError):
    """The database could not be opened or migrated."""


class AuthorityError(KeysentryError):
    """The credential authority (AWS) refused or failed a call we needed."""


class EmulatorError(KeysentryError):
    """The local AWS emulator could not be started or seeded."""


class Deferred(KeysentryError):
    """A step cannot finish yet, and nothing is wrong: it waits for its batch to be sent or for an
    issuer's rate limit to pass, and runs again at ``until`` (seconds since the epoch)."""

    def __init__(self, message: str, until: float) -> None:
        super().__init__(message)
        self.until = until
