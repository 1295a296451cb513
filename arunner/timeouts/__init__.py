"""Per-test time limits: the watchdog thread (``watchdog``), the report of where everything
waits (``stacks``), and stopping a database query from another thread (``dbinterrupt``).

Imports the core only.
"""
