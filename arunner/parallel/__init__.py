"""``--parallel`` that goes on when a worker is lost: the parent's side (``parent``), the
workers' (``workers``), and the files a worker hands the parent (``handoff``).

Imports the core, the reports and the timeouts.
"""
