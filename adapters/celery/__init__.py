"""The Celery engine: one message per batch, a persistent event loop in each worker process,
results awaited on the caller's loop through the Redis result backend's pub/sub.

Modules, one job each:

- ``settings``   configuration from the environment (the one place that reads it),
- ``app``        the engine's Celery application (the roof's ``cutover.celery_app`` adds
                 the guard to it: that is the app a deployment runs),
- ``tasks``      what runs in the worker: resolve the task by reference, run the batch,
- ``worker_loop`` the per-process event loop the worker runs coroutines on,
- ``results``    the client side: await task results without blocking the event loop,
- ``publisher``  the client side: send messages off the event loop,
- ``dlq``        the dead-letter store: list and replay refused or exhausted work (one
                 interface; ``dlq_backends/`` holds the Redis and RabbitMQ stores),
- ``replay``     publish a dead letter again,
- ``engine``     :class:`CeleryEngine`, the ``ExecutionEngine`` for the rest of cutover.

Importing this package imports nothing from Celery; ``engine`` does so on ``start()``.
"""
