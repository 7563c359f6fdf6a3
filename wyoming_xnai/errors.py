"""Errors that carry a message meant for the user."""


class UserError(Exception):
    """A mistake the user can fix (missing model, bad path): printed as one line, no traceback."""


class ModelMissingError(UserError):
    """A model file or the package that bundles it is not installed."""
