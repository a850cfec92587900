"""The one exception type whose message is shown to users as is."""


class DissError(Exception):
    """A problem with what the user gave (a file, a folder, an argument), worded as one line for them to act on."""


def require(module: str, extra: str, what: str) -> None:
    """Refuse in one line, before any work, when ``what`` needs ``module`` of the extra ``extra`` and it is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise DissError(f"{what} needs {module}: pip install 'diss-diffusion[{extra}]'")
