"""The static site build: ``render`` turns articles into every object of the site (Jinja2,
pure), ``sync`` PUTs only what changed against the ``manifest``, ``build`` ties them to the
articles table. The templates, assets and headers are chalicelib's, shared with the API."""
