"""Everything leadrelay keeps in Redis: ``keys`` names every key, ``scripts`` holds the Lua steps, ``Store`` runs them.

See ``worker.store.keys`` for the list of keys and what each holds.
"""

from worker.store.keys import Keys
from worker.store.records import (
    CommitConflict,
    Committed,
    DeadLetter,
    Parked,
    Retention,
    WriteTask,
    decode_task,
    encode_task,
)
from worker.store.store import Store

__all__ = ["CommitConflict", "Committed", "DeadLetter", "Keys", "Parked", "Retention", "Store", "WriteTask",
           "decode_task", "encode_task"]
