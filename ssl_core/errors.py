"""The one exception the engine raises for bad input.

Its message is a single line that says what was wrong and what to do. The CLI prints it without a
traceback and exits non-zero; the app shows it with `st.error`.
"""


class UserError(Exception):
    """Bad input from the user: a path, a file, a hyper-parameter. One line, with the remedy."""
