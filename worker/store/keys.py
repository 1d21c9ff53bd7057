"""Every Redis key leadrelay uses, named once. Nothing else builds a key (``tests/unit/test_redis_keys.py`` checks).

All keys start with ``Settings.key_prefix`` (``p``), so two installations can share one Redis:

  p+"route:pointer" / "route:load" / "route:day"   hashes: round-robin pointers, per-rep load and its day
  p+"route:version"                counter: bumped by every commit that changes the routing state
  p+"ident:{identity key}"         string: identity key (email:/phone:/person:) -> lead id, expiring (Settings
                                   identity_retention_days, renewed whenever the person is seen)
  p+"ident"                        hash: the same, as kept before it expired per key (moved by the sweep)
  p+"lead:{id}"                    hash: decision (JSON), write (JSON), record (crm:id), owner_locked, ...
  p+"decisions"                    sorted set: lead ids by decided_at (searched by time; trimmed to the lead retention)
  p+"hits:{YYYY-MM-DD}"            hash: per UTC day, rule -> decisions it took part in ("routing:<rule>",
                                   "scoring:<rule>", "tags:<rule>", "segments:<name>"); expires after the lead retention
  p+"record:{crm}:{id}"            string: lead id of a CRM record we wrote (echo suppression)
  p+"inbound:{source}:{id}"        string: idempotency key of an accepted delivery (API)
  p+"done:{source}:{id}"           string: the delivery was decided (worker; a redelivered job stops here)
  p+"writes:{crm}"                 list: write tasks waiting for a batch
  p+"writes:{crm}:batch:{job}"     list: the tasks one write_back job holds (survives a killed worker)
  p+"writes:{crm}:batches"         set: the jobs holding a batch list (the sweep adopts one whose job is gone)
  p+"writes:{crm}:landed:{job}"    list: leads a write_back job wrote with a new owner, whose notifications it
                                   queues next (kept if the worker is killed between: the job's next run does)
  p+"parked:{crm}"                 list: deliveries put aside while the CRM is down, queued again when it answers
  p+"breaker:{crm}"                hash: the CRM's circuit breaker (state, failures in a row, until, reason)
  p+"payloads:{source}"            sorted set: recent raw payloads of one source mapping by time (JSON: id and
                                   payload), capped and kept LEADRELAY_RECENT_PAYLOAD_RETENTION_DAYS (the console's
                                   mapping preview picks one)
  p+"dlq" / p+"dlq:{id}"           sorted set of dead-letter ids by time / one entry (JSON)
  p+"lock:{identity key}"          per-identity lock
  p+"rescore:due"                  sorted set: lead id by when its score next falls below a grade or stage threshold
  p+"recycle:due"                  sorted set: lead id (lost for a recycled reason) by when it enters re-engagement
  p+"accounts" / "accounts:version" / "accounts:tmp:{token}"   the account index (CRM id -> record JSON),
                                   its version (bumped by every sync) and a sync's private copy
  p+"sla:due"                      sorted set: lead id -> its first-contact deadline (unix time), while not worked
                                   (the overdue gauge counts those past it; worker.sla)
  p+"sla:held"                     sorted set: lead id -> when its after-hours hold is released (unix time)
  p+"unassigned:{queue}"           sorted set: lead id -> when a write made that queue its CRM owner, until a rep
                                   gets it (the unassigned gauge, by queue); p+"unassigned": the queues ever counted
  p+"sla:schedule"                 sorted set: follow-through jobs (function, job id, arguments as JSON) -> when
                                   they run; the sweep hands each to arq shortly before (worker.sla.queue)
  p+"metrics:{name}"               hash: one Prometheus metric (worker.metrics)
  p+"queue"                        sorted set: the arq queue; p+"queue:health-check" its workers' health line
  p+"cron:{name}"                  the name of a cron job (arq ids its runs "{name}:{time}": prefixed, so two
                                   installations on one Redis each run their own)
  p+"secret:lead-id"               string: the HMAC secret of lead ids when LEADRELAY_LEAD_ID_SECRET is unset
  p+"secret:session"               string: the HMAC secret of console sessions when LEADRELAY_SESSION_SECRET is unset
  p+"session:revoked:{id}"         string: a console session signed out before it expired (expires with it)
  p+"signin:fail:address:{ip}" / p+"signin:fail:user:{name}"   counters: console sign-in failures from one client
                                   address / for one user name, expiring with their window (leadrelay.console.throttle)
  p+"config:current"               string: the number of the published config version every process follows
  p+"config:seq" / "config:v:{n}"  counter of version numbers / one version (JSON: files, author, time, message, diff)
  p+"config:log"                   sorted set: version numbers by number (the history the console lists)
  p+"config:draft:{name}"          string: an admin's saved draft (JSON: files, author, time)
  p+"ready:crm" / "ready:crm:check"   the API's last CRM check and the lock of the one process making it
  p+"ratelimit:{crm}:{account}"    the CRM adapters' shared rate limiters, and p+"{crm}:{host}:allocation-exhausted"
                                   (Salesforce: the day's API allocation is spent). The adapters build these two
                                   themselves from the prefix they are given (they import only the core);
                                   ``ratelimit`` and ``allocation_exhausted`` below name the shapes.

arq's own keys hold our job ids: "arq:job:{job id}", "arq:result:{job id}", ... where every job id starts with
``p`` ("p+delivery:{source}:{id}", "p+write_back:{crm}:{slot}", "p+notify:{lead}:{event}:{channel}:{audience}:
{target}", "p+sla:{lead}:{clock}:{step}", "p+hold_release:{unix time}"), so ``everything`` finds them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix

DEFAULT_PREFIX = "leadrelay:"
SEP = ":"


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys of one installation (one prefix)."""

    prefix: str = DEFAULT_PREFIX

    def _k(self, *parts: str) -> str:
        return self.prefix + SEP.join(parts)

    # ---- routing state --------------------------------------------------------------------------------------------
    @property
    def route_pointer(self) -> str:
        return self._k("route", "pointer")

    @property
    def route_load(self) -> str:
        return self._k("route", "load")

    @property
    def route_day(self) -> str:
        return self._k("route", "day")

    @property
    def route_version(self) -> str:
        return self._k("route", "version")

    # ---- identity, leads, records ---------------------------------------------------------------------------------
    @property
    def ident(self) -> str:
        """The identity index as one hash (before entries expired one by one): read, and emptied by the sweep."""
        return self._k("ident")

    def identity(self, identity_key: str) -> str:
        return self._k("ident", identity_key)

    def lead(self, lead_id: str) -> str:
        return self._k("lead", lead_id)

    @property
    def decisions(self) -> str:
        """Lead ids by the time they were decided (the admin API's decision search)."""
        return self._k("decisions")

    def rule_hits(self, day: str) -> str:
        """One UTC day's rule hit counts (``day`` is YYYY-MM-DD)."""
        return self._k("hits", day)

    def record(self, crm: str, record_id: str) -> str:
        return self._k("record", crm, record_id)

    def lock(self, name: str) -> str:
        return self._k("lock", name)

    # ---- follow-through: re-scoring and recycling (worker.rescore, worker.recycle) ---------------------------------
    @property
    def rescore_due(self) -> str:
        """Lead id -> unix time its score next falls below a threshold: the re-score job reads only the due ones."""
        return self._k("rescore", "due")

    @property
    def recycle_due(self) -> str:
        """Lead id -> unix time a lead lost for a recycled reason enters re-engagement."""
        return self._k("recycle", "due")

    # ---- deliveries -----------------------------------------------------------------------------------------------
    def inbound(self, source: str, delivery_id: str) -> str:
        return self._k("inbound", source, delivery_id)

    def done(self, source: str, delivery_id: str) -> str:
        return self._k("done", source, delivery_id)

    def recent_payloads(self, source: str) -> str:
        """The recent raw payloads of one source mapping (``worker.recent``)."""
        return self._k("payloads", source)

    # ---- write batches --------------------------------------------------------------------------------------------
    def writes(self, crm: str) -> str:
        return self._k("writes", crm)

    def write_batch(self, crm: str, job_id: str) -> str:
        return self._k("writes", crm, "batch", job_id)

    def write_batches(self, crm: str) -> str:
        return self._k("writes", crm, "batches")

    def write_landed(self, crm: str, job_id: str) -> str:
        return self._k("writes", crm, "landed", job_id)

    # ---- CRM outages ----------------------------------------------------------------------------------------------
    def parked(self, crm: str) -> str:
        return self._k("parked", crm)

    def breaker(self, crm: str) -> str:
        return self._k("breaker", crm)

    # ---- dead letters ---------------------------------------------------------------------------------------------
    @property
    def dlq(self) -> str:
        return self._k("dlq")

    def dlq_entry(self, dl_id: str) -> str:
        return self._k("dlq", dl_id)

    # ---- account index --------------------------------------------------------------------------------------------
    @property
    def accounts(self) -> str:
        return self._k("accounts")

    @property
    def accounts_version(self) -> str:
        return self._k("accounts", "version")

    def accounts_tmp(self, token: str) -> str:
        return self._k("accounts", "tmp", token)

    # ---- follow-through: first-contact clocks and after-hours holds (worker.sla) ----------------------------------
    @property
    def sla_due(self) -> str:
        return self._k("sla", "due")

    @property
    def held(self) -> str:
        return self._k("sla", "held")

    @property
    def sla_schedule(self) -> str:
        return self._k("sla", "schedule")

    def unassigned(self, queue: str) -> str:
        """Leads whose CRM owner is ``queue`` (not a rep), by when (worker.unassigned)."""
        return self._k("unassigned", queue)

    @property
    def unassigned_queues(self) -> str:
        """The queues that ever held a lead: each one's count is shown, 0 included."""
        return self._k("unassigned")

    def sla_job(self, lead_id: str, clock: int, step: str) -> str:
        """The arq job of one step of one lead's first-contact clock (``clock`` counts its restarts): once each."""
        return self._k("sla", lead_id, str(clock), step)

    def hold_release_job(self, at: float) -> str:
        """The arq job releasing every lead held until ``at`` (unix time): one per moment, however many leads."""
        return self._k("hold_release", str(int(at)))

    # ---- metrics, queue, limiters ---------------------------------------------------------------------------------
    def metric(self, name: str) -> str:
        return self._k("metrics", name)

    @property
    def queue(self) -> str:
        """The arq queue lives under our prefix, so two installations can share one Redis."""
        return self._k("queue")

    def ratelimit(self, crm: str, account: str) -> str:
        return self._k("ratelimit", crm, account)

    def allocation_exhausted(self, crm: str, host: str) -> str:
        return self._k(crm, host, "allocation-exhausted")

    # ---- installation state: lead id secret, the API's readiness cache, arq's per-installation names -------------
    @property
    def lead_id_secret(self) -> str:
        """The HMAC secret of lead ids when LEADRELAY_LEAD_ID_SECRET is unset (made once with SET NX)."""
        return self._k("secret", "lead-id")

    @property
    def session_secret(self) -> str:
        """The HMAC secret of console session cookies when LEADRELAY_SESSION_SECRET is unset (made once, SET NX)."""
        return self._k("secret", "session")

    def session_revoked(self, session_id: str) -> str:
        """A console session signed out before its expiry (expires with it)."""
        return self._k("session", "revoked", session_id)

    def signin_failures(self, kind: str, who: str) -> str:
        """Console sign-in failures in the current window, per ``kind`` ("address" or "user") and who."""
        return self._k("signin", "fail", kind, who)

    @property
    def ready_crm(self) -> str:
        """The API's last CRM check ("ok" / "down: ..."), shared by every API process."""
        return self._k("ready", "crm")

    @property
    def ready_crm_check(self) -> str:
        """Taken (SET NX, expiring after the check interval) by the one API process that asks the CRM."""
        return self._k("ready", "crm", "check")

    def cron_job(self, name: str) -> str:
        """A cron job's name; arq ids each run "<name>:<time>", so with the prefix in the name two installations
        on one Redis do not take each other's runs."""
        return self._k("cron", name)

    @property
    def health_check(self) -> str:
        """arq's health-check key of this installation's workers."""
        return self._k("queue", "health-check")

    # ---- arq job ids (arq stores "arq:job:<id>", "arq:result:<id>", ...) -----------------------------------------
    def delivery_job(self, source: str, delivery_id: str) -> str:
        """arq refuses a second job with the same id: one job per delivery, however often it is redelivered."""
        return self._k("delivery", source, delivery_id)

    def delivery_replay_job(self, source: str, delivery_id: str, at: float) -> str:
        """A fresh id for a replayed delivery (arq keeps the old job's result)."""
        return self._k("delivery", source, delivery_id, "replay", str(at))

    def delivery_unpark_job(self, source: str, delivery_id: str, at: float) -> str:
        """A fresh id for a delivery queued again after it was parked during a CRM outage."""
        return self._k("delivery", source, delivery_id, "unpark", repr(at))

    def write_back_job(self, crm: str, slot: int) -> str:
        """The write_back job of one write window (every process asks for the same one)."""
        return self._k("write_back", crm, str(slot))

    def write_back_full_job(self, crm: str, nonce: int) -> str:
        """A write_back job for a batch that is full now."""
        return self._k("write_back", crm, "full", str(nonce))

    def write_back_replay_job(self, dl_id: str) -> str:
        return self._k("write_back", "replay", dl_id)

    # ---- config versions (worker.configs) -------------------------------------------------------------------------
    @property
    def config_current(self) -> str:
        return self._k("config", "current")

    @property
    def config_seq(self) -> str:
        return self._k("config", "seq")

    def config_version(self, number: int) -> str:
        return self._k("config", "v", str(number))

    @property
    def config_log(self) -> str:
        return self._k("config", "log")

    def config_draft(self, name: str) -> str:
        return self._k("config", "draft", name)

    def notify_job(self, lead_id: str, event: str, channel: str, audience: str, target: str) -> str:
        """One notification (a lead's event, on one channel, to one person or channel): one job, however often the
        lead's write lands."""
        return self._k("notify", lead_id, event, channel, audience, target)

    @property
    def notify_jobs(self) -> str:
        """What every notification's job id starts with (the demo waits until none is queued)."""
        return self._k("notify", "")

    def notify_replay_job(self, dl_id: str, at: float) -> str:
        """A fresh id for a dead-lettered notification sent again (arq keeps the old job's result)."""
        return self._k("notify", "replay", dl_id, repr(at))

    # ---- whole installation ---------------------------------------------------------------------------------------
    @property
    def everything(self) -> tuple[str, ...]:
        """SCAN patterns for every key of this installation: ours, and arq's for our job ids."""
        return (self.prefix + "*", "arq:*" + self.prefix + "*")


def arq_job(job_id: str) -> str:
    """arq's key for a queued job's data."""
    return job_key_prefix + job_id


def arq_result(job_id: str) -> str:
    """arq's key for a job's result."""
    return result_key_prefix + job_id


def arq_in_progress(job_id: str) -> str:
    """arq's key for a job a worker is running now."""
    return in_progress_key_prefix + job_id


def anonymous_identity(lead_id: str) -> str:
    """The lock name of a lead with neither email nor phone (locked as itself)."""
    return "lead" + SEP + lead_id
