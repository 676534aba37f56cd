"""The error a tool turns into one ``tool: error: ...`` line."""


class UserInputError(Exception):
    """A problem with the user's config, data, files or arguments, said in
    one line that names what is wrong and what to do."""


class FrozenNormWarning(UserWarning):
    """A CoC / stnd / orth backbone starts from random weights with its BN
    frozen (``cpwc_mmdet.backbones.converted``); a category of its own, so
    that tools which build models without training can silence it."""
