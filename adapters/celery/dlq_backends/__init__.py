"""One module per dead-letter store implementation (chosen by :mod:`adapters.celery.dlq`).

- ``redis``: a capped Redis stream on the result backend's Redis;
- ``amqp``: RabbitMQ's dead-letter exchange and queue.
"""
