"""The ``arunner`` command: ``command`` (the click command and its data path),
``clickoptions`` (click options from a runner's ``add_arguments``), ``projectconfig``
(defaults from ``[tool.arunner]`` and ``manage.py``); ``merge``, the ``arunner-merge`` command
(shards' report files into one).

The top layer: it imports the runner; nothing imports it but ``arunner.__main__`` (and the
``arunner-merge`` console script, which runs ``merge``).
"""
