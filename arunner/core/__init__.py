"""The core: one test's phases on arunner's event loops, and what every layer above shares.

``loops`` (the loops and their executors), ``bridges`` (how the main thread runs a loop),
``guard`` (the protocol of a per-test feature), ``phases`` (one coroutine test's phases in one
context), ``drain`` (what a test left running), ``options`` (the option table and a run's
settings), ``errors`` (exit codes and the shared error types), ``termination`` (how a run
stops), ``inventory`` (every private name of Django, asgiref, unittest or asyncio that arunner
touches).

Nothing here imports from another arunner package: the features sit above the core.
"""
