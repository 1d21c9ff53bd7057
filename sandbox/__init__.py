"""CRM emulators (HubSpot, Salesforce) and their HTTPS server, for the demo, tests and benchmarks.

Production code (connector, adapters, worker) never imports this package.
"""
