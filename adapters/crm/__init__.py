"""The CRM plug-in boundary (``plugin``: the protocol and its data) and the registry of CRMs (``registry``)."""

from adapters.crm.plugin import (
    Answer,
    CallObserver,
    CrmEvent,
    CrmPlugin,
    Endpoint,
    OwnerChange,
    Received,
    WebhookRequest,
)
from adapters.crm.registry import (
    PLUGINS,
    UnknownCrm,
    any_configured,
    build_client,
    config_from_texts,
    is_crm,
    load_config,
    names,
    plugin,
    plugins,
    read_only_fields,
    write_window_ms,
)

__all__ = [
    "PLUGINS", "Answer", "CallObserver", "CrmEvent", "CrmPlugin", "Endpoint", "OwnerChange", "Received",
    "UnknownCrm", "WebhookRequest", "any_configured", "build_client", "config_from_texts", "is_crm", "load_config",
    "names", "plugin", "plugins", "read_only_fields", "write_window_ms",
]
