class UserError(Exception):
    """A mistake in what the user asked for: the CLI prints it as one line, exit code 2."""
