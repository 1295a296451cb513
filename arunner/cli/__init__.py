"""The ``arunner`` command: ``command`` (the click command and its data path),
``clickoptions`` (click options from a runner's ``add_arguments``), ``projectconfig``
(defaults from ``[tool.arunner]`` and ``manage.py``).

The top layer: it imports the runner; nothing imports it but ``arunner.__main__``.
"""
