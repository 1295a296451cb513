"""The test suite that composes the features for every test: ``testsuite`` (the suite class
Django's runner builds), ``runcontext`` (what one run owns: loops, sessions, and the loop over
the guards before and after every test), ``guards`` (the one list of a run's features, the
per-test ones each a ``core.guard.Guard``), ``testcase`` (the phase hooks installed on
coroutine tests), ``queryassertions`` (Django's query assertions, usable in coroutine tests).

Sits above the core and every feature package; nothing below imports it.
"""
