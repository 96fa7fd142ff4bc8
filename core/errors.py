"""The one exception type for a user's mistake."""

import click


class UserError(click.ClickException):
    """Bad input from the user: printed as one line on stderr, exit code 2, no traceback.

    The message names the culprit (file, option or value) and says what to do about it.
    """

    exit_code = 2
