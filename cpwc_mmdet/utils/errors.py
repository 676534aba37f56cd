"""The error a tool turns into one ``tool: error: ...`` line."""


class UserInputError(Exception):
    """A problem with the user's config, data, files or arguments, said in
    one line that names what is wrong and what to do."""
