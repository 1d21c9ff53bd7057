"""Match: is this lead a person or company we already know? Dedupe and lead-to-account.

Rules, from the most to the least certain (thresholds in ``rules/matching.yaml``):
``email_exact`` (normalized email), ``phone_exact``, ``person_fuzzy`` (a close name within the same
company), then for accounts ``account_domain`` and ``account_name_fuzzy``. A person match carries the
account it belongs to, so routing can give the lead to the account owner.

Candidates come from identity keys (``identity_keys`` / ``record_keys``): stable strings such as
``email:jsmith@gmail.com`` or ``person:acme:j:smith`` that the service stores in Redis and that
``IdentityIndex`` keeps in memory. Everything here is pure; names are folded once per record.

- ``config``: the thresholds (``MatchConfig``) and their file;
- ``ident``: prepared identities (``Ident``) and identity keys;
- ``rules``: when two identities are the same person, or a lead belongs to an account;
- ``live``: ``match`` and ``IdentityIndex``, for one lead as it arrives;
- ``cluster``: ``cluster_rows``, for a whole list at once.
"""

from connector.match.cluster import ROW_FIELDS, cluster_idents, cluster_rows, row_ident
from connector.match.config import (
    AccountRules,
    ClusterRules,
    MatchConfig,
    PersonRules,
    PhoneRules,
    load_match_config,
)
from connector.match.ident import (
    Ident,
    ident,
    identity_keys,
    lead_ident,
    name_key,
    phone_match_key,
    record_ident,
    record_keys,
)
from connector.match.live import IdentityIndex, match
from connector.match.rules import account_rule, first_name_score, last_name_score, person_rule, person_score

__all__ = [
    "ROW_FIELDS",
    "AccountRules",
    "ClusterRules",
    "Ident",
    "IdentityIndex",
    "MatchConfig",
    "PersonRules",
    "PhoneRules",
    "account_rule",
    "cluster_idents",
    "cluster_rows",
    "first_name_score",
    "ident",
    "identity_keys",
    "last_name_score",
    "lead_ident",
    "load_match_config",
    "match",
    "name_key",
    "person_rule",
    "person_score",
    "phone_match_key",
    "record_ident",
    "record_keys",
    "row_ident",
]
