"""Plumbing every feature shares: ``config`` (settings, read once), ``aws`` (cached clients),
``logs``, ``faults`` (which AWS failures are transient), ``clock``, ``conditions``
(conditional writes and named transactions), ``templating``, ``mail`` (raw MIME through
SES), ``http`` (response helpers), ``guard`` (every route's answer to a fault) and
``openapi`` (``GET /openapi.json``)."""
