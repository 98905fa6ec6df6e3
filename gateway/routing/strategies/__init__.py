"""Routing strategies: pure functions of (candidates, request context, engine views).

::

    base.py         the strategy seam; health tiers and tie rotation
    round_robin.py  each request one engine further along
    least_load.py   the least work per unit of capacity, KV cache permitting
    affinity.py     a session's turns to the engine holding its prefix cache
    preference.py   the tenant's preferred sites first
    registry.py     strategies by configured name, each within the site preference
"""
