"""The one exception type that means "the user asked for something that cannot be done".

The CLI turns it into one clear message and exit code 2; everything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input (path, flag, file, model id), reported without a traceback."""
