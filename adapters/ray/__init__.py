"""The Ray engine, one module per job:

- ``engine``   :class:`~adapters.ray.engine.RayEngine`, the ``ExecutionEngine`` for the rest
  of cutover (formerly ``adapters.ray_engine``);
- ``runtime``  settings from the environment (the one place that reads them) and the lazy,
  process-wide ``ray.init`` / ``ray.shutdown``, run on one long-lived thread;
- ``remote``   what runs inside a Ray worker process: the task function found by reference
  (or unpickled), the batch's coroutines gathered on the process's persistent event loop.

Importing this package imports nothing from Ray; ``runtime`` and ``remote`` import it inside
the functions that need it.
"""
