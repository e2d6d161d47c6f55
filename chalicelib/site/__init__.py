"""The static site: pages rendered from the articles (Jinja2) and kept in the site bucket.

``assets`` names the fingerprinted stylesheet and script, ``pages`` renders every object,
``sync`` PUTs only what changed, ``build`` ties them to the articles table.
"""
