"""The names of the operations a permission checker is asked about.

Every verb of the :class:`~specstar.core.manager.ResourceManager` runs as one :class:`Action`
(``list`` and ``get_partial`` run as ``search`` and ``get``). ``Action`` is a ``StrEnum``, so a
checker comparing ``ctx.action == "update"`` keeps working; applications may use names of their
own (custom actions) wherever an action is expected.
"""

from __future__ import annotations

import enum

__all__ = [
    "BACKUP_ACTIONS",
    "COLLECTION_ACTIONS",
    "MAINTENANCE_ACTIONS",
    "READ_ACTIONS",
    "WRITE_ACTIONS",
    "Action",
]


class Action(enum.StrEnum):
    """An operation of the manager, as a permission checker sees it in ``ctx.action``.

    Members are upper-case (``Action.GET``, ``Action.COUNT``) so they never shadow ``str``
    methods; their values are the lower-case action names.
    """

    # reads
    GET = "get"
    GET_META = "get_meta"
    GET_REVISION_INFO = "get_revision_info"
    LIST_REVISIONS = "list_revisions"
    EXISTS = "exists"
    REVISION_EXISTS = "revision_exists"
    SEARCH = "search"
    COUNT = "count"
    # changes of data or state
    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    MERGE_PATCH = "merge_patch"
    MODIFY = "modify"
    SWITCH = "switch"
    DELETE = "delete"
    RESTORE = "restore"
    PERMANENTLY_DELETE = "permanently_delete"
    # maintenance: writes the framework or an operator runs on existing resources
    MIGRATE = "migrate"
    PRUNE = "prune"
    SET_NULL = "set_null"
    # backup: a whole collection read into an archive, or written back from one
    DUMP = "dump"
    LOAD = "load"

    @property
    def is_read(self) -> bool:
        """Whether the action only reads."""
        return self in READ_ACTIONS


#: Actions that only read.
READ_ACTIONS: frozenset[Action] = frozenset(
    {
        Action.GET,
        Action.GET_META,
        Action.GET_REVISION_INFO,
        Action.LIST_REVISIONS,
        Action.EXISTS,
        Action.REVISION_EXISTS,
        Action.SEARCH,
        Action.COUNT,
    }
)

#: Writes that keep existing resources in shape rather than change them on a user's behalf:
#: ``migrate`` (schema migration), ``prune`` (``prune_revisions``) and ``set_null`` (a
#: reference cleared because its target was deleted). They are writes too.
MAINTENANCE_ACTIONS: frozenset[Action] = frozenset({Action.MIGRATE, Action.PRUNE, Action.SET_NULL})

#: Backup and restore of whole collections (``dump`` reads, ``load`` writes). Neither belongs
#: to the ``read`` or ``write`` groups: a rule granting those does not grant backups, so only
#: a rule naming them (or ``"*"``, an admin's) does.
BACKUP_ACTIONS: frozenset[Action] = frozenset({Action.DUMP, Action.LOAD})

#: Every action that changes something (maintenance included; backups apart).
WRITE_ACTIONS: frozenset[Action] = frozenset(Action) - READ_ACTIONS - BACKUP_ACTIONS

#: Actions that address the collection rather than one resource.
COLLECTION_ACTIONS: frozenset[Action] = frozenset({Action.SEARCH, Action.COUNT})
