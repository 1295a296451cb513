"""The test suite that composes the features for every test: ``testsuite`` (the suite class
Django's runner builds), ``runcontext`` (what one run owns: loops, guards, watchdog, and the
per-test preparation), ``testcase`` (the phase hooks installed on coroutine tests),
``queryassertions`` (Django's query assertions, usable in coroutine tests).

Sits above the core and every feature package; nothing below imports it.
"""
