"""The project's exception: its message is one line a user can act on (the CLI and UI show only that)."""


class RagError(Exception):
    pass
