"""The one exception type whose message is shown to users as is."""


class DissError(Exception):
    """A problem with what the user gave (a file, a folder, an argument), worded as one line for them to act on."""
