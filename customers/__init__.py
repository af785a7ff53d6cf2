"""The central customer record: customers, organizations, identities, timeline."""
