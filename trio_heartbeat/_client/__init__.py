"""The client runtime (trio): the managed connection the application holds, its
reconnect supervisor, one link's session tasks, the bounded queues and the shared
heartbeat clock.

This is the only client layer that reads ``trio.current_time()`` or sleeps. It
knows links only through :mod:`trio_heartbeat._transport` and never imports an
engine, a dialer or a foreign exception.
"""
