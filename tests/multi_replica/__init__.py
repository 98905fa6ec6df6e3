"""Four gateway processes, a Redis Cluster of three primaries with replicas, PostgreSQL and a
pool of simulated engines, under load (issue 15, item 4).

::

    topology.py               the deployment (started once for the package) and the engines'
                              own record of what they served (EngineWitness)
    load.py                   concurrent clients over the replicas, each outcome as seen
    conftest.py               the package's deployment and its tenants
    test_admission.py         limits admit exactly their numbers across the replicas
    test_metering.py          the durable ledger equals what the engines counted
    test_primary_failover.py  a Redis primary killed mid-load: served and metered once, or
                              refused cleanly
    test_trail.py             the audit trail of it all verifies
"""
