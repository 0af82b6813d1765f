"""Conflicts the storage layer reports; handlers map each to a message for the person."""


class StorageConflict(Exception):
    """The change would break a rule the data must keep; nothing was written."""


class ChatAlreadyLinked(StorageConflict):
    pass


class AlreadyRegistered(StorageConflict):
    """This platform account already belongs to a member (of this or another cell)."""


class MemberNotFound(StorageConflict):
    pass


class AlreadySecretary(StorageConflict):
    """The role would be handed to the member who already holds it: nothing would change."""


class NotPending(StorageConflict):
    """A join request was already decided."""


class OrgUnitNotFound(StorageConflict):
    """No committee or cell of the expected kind has this id."""
