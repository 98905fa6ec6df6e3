"""The admin API and its service: roles, tenant isolation, the audited actor, the read side."""
