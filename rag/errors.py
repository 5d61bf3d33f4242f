"""Errors the library raises. Each message says what went wrong and what to do about it;
only the CLI turns them into exit codes."""


class RagError(Exception):
    """Base class of every error the library raises on purpose."""


class InputError(RagError):
    """A path, file or argument given by the user cannot be used."""


class NoIndexError(RagError):
    """There is no index where one was expected."""


class IndexMismatchError(RagError):
    """The index was built with another embedder or format than the one asked for."""


class IndexCorruptError(RagError):
    """The index on disk cannot be read."""


class IndexBusyError(RagError):
    """Another process is writing this index."""


class ModelError(RagError):
    """A model is unknown, missing, failed to download or failed verification."""


class PromptError(RagError):
    """A prompt template is missing or a variable it needs was not given."""
