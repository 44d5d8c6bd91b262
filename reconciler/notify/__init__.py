"""Notifications: what a person on call wants to know, sent off the pass's path.

``events`` is the value (``Event``) and its kinds; ``notifier`` queues and sends events to the
sinks a ``notifications.yaml`` names (``config``): a signed JSON webhook (``webhook``,
``signing``) or a push service through Apprise (``push``), each rate-limited
(``ratelimit``) and retried with backoff. The loop decides when something happened; nothing
here knows the loop. Why it is built this way: docs/decisions/notifications.md.
"""
