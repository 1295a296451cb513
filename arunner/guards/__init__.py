"""What keeps a test inside its transaction, and the real database out of reach.

``threadguard`` and ``threadscope`` (worker threads' ORM statements: refused, routed or caught
as leaks), ``route`` and ``routedconnection`` (route mode), ``unitlock`` (the lock routed
threads share), ``isolation`` (connection protection), ``transactionend`` (a test that ends
its own transaction), ``executewrappers``, ``sqlkind``, ``diagnostics`` (warnings that belong
to a test but surface outside it).

Imports the core only.
"""
