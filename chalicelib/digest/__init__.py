"""The weekly digest: ``planner`` (the schedule: which articles, who gets them) puts batches
of subscribers on the queue (``messages``, ``queue``); ``worker`` claims, sends and marks
each mail (``mail``, paced by ``pacing``); ``handlers`` are the two Lambda functions.
``weeks`` names a digest after its ISO week. See docs/digest.md.
"""
