"""What the Lambda needs of the static site: the fingerprinted assets (``asset()`` in every
template), the security headers every page carries, the pages the API renders itself
(the no-JavaScript signup form) with the addresses the site and the mails share, and the
image sets (``images``) whose lead picture the digest mail shows.

Rendering the whole site and syncing it to the bucket is the editor's job (``editor.site``).
"""
