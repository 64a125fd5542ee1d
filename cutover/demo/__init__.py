"""What ``cutover demo`` and ``cutover bench`` are made of.

- :mod:`cutover.demo.tasks`: the sample task functions (portable, shadow-safe), including the
  deliberately divergent ``stamp_process``;
- :mod:`cutover.demo.services`: the real processes a run starts (an embedded Redis, a Celery
  worker, Ray) and their cleanup, also on Ctrl-C;
- :mod:`cutover.demo.tour`: the staged cutover of three sample workers (``cutover demo``);
- :mod:`cutover.demo.bench`: the seed's 1000-task table, measured (``cutover bench``; a
  package: model, machine, runner, targets, render);
- :mod:`cutover.demo.memory` and :mod:`cutover.demo.progress`: peak RSS and CPU accounting of
  a process tree, and a plain-text progress bar.

Importing this package imports none of them; Celery and Ray are imported only when a run
starts them.
"""
