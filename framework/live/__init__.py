"""Live mode: provider sessions, reconnect schedules, the live runner and ``papertrade record``.

The only package that touches sockets (``session``, ``wsclient``, ``rest``) and reads the wall
clock (``session.WallClock``); everything after the loop's channel is the same code a replay
runs.
"""
