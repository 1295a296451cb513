"""Per-test time limits: the watchdog thread and its guard (``watchdog``), the end of a run
whose test cannot be stopped (``emergency``), the report of where everything
waits (``stacks``), and stopping a database query from another thread (``dbinterrupt``).

Imports the core only.
"""
