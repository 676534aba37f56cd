"""``tools/reproduce.py``: the paper tables as resumable pipelines.

* ``tables``: every table, its rows, configs and the papers' figures.
* ``schedules``: what ``--data`` / ``--schedule`` change in each config.
* ``plan``: a row's stages (census, pretrain, bridge, detect, evaluate) as
  command lines of the project's own tools.
* ``stages``: running a stage as a subprocess, skipping finished ones and
  resuming killed ones.
* ``census``: Params and FLOPs of a row's model, counted once.
* ``results``: the table written as Markdown and JSON.
"""
