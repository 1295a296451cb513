"""Checks and repairs before the first test: labels that match nothing (``collection``),
selections that select nothing (``selection``), database servers that do not answer
(``dbcheck``), test databases a stop left half made (``testdbs``).

Used by the runner; imports the core and the timeouts only.
"""
