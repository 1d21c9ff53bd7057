"""Follow-through (issue 13): first-contact clocks with escalation, and after-hours holds that hold.

- ``clock``: ``SlaClock``, started by the write path (``start_clock``), told by intake of CRM events;
- ``steps``: remind the owner, tell the manager, reassign within the pool;
- ``hold``: held leads written without an owner, released at their pool's next business hour;
- ``writes``: a new owner through the normal write path; ``record``: the lead hash's follow-through fields;
- ``queue`` / ``jobs``: the deferred arq jobs; ``notifier``: the port through which people are told.
"""

from worker.sla.clock import SlaClock, follow_gauges
from worker.sla.notifier import LogNotifier, Notifier
from worker.sla.queue import HOLD_RELEASE, SLA_STEP

__all__ = ["HOLD_RELEASE", "SLA_STEP", "LogNotifier", "Notifier", "SlaClock", "follow_gauges"]
