"""Celery's and Ray's own tools (``celery inspect``, ``celery call``, Flower, a separately
started Ray, openfeature-sdk) used against cutover the way a user of those ecosystems would."""
