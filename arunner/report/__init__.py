"""What a run reports: one ``TestReport`` per test (``model``), built by the result mixin
``recorder``; the terminal lines while it runs (``terminal``), the closing line
(``closingline``), ``--junit-xml`` (``junitxml``) and the merge of shards' JUnit files
(``junitmerge``), ``--durations`` (``durations``), ``--lf``/``--ff`` (``lastfailed``), GitHub
Actions annotations (``ghannotations``), how report files are written (``reportfiles``), and
a worker's failures with their tracebacks (``remoteerrors``).

Imports the core only.
"""
