"""Articles as the public API serves them: ``GET /articles`` (one Query per page on a sparse
index, opaque signed cursors), ``GET /articles/{slug}`` (one GetItem), ``GET /categories``.

``model`` is the table, ``service`` reads it, ``routes`` is the blueprint; ``categories``
and ``slugs`` are shared with the editor and the newsletter. See docs/api.md.
"""
