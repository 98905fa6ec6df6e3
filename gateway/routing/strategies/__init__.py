"""Routing strategies: pure functions of (candidates, request context, engine views)."""
