"""What editors and operators run, never shipped to Lambda: ``python -m editor``.

- ``cli``: the command (publish, rebuild, digest);
- ``content``: Markdown articles with front matter, parsed and sanitised;
- ``publishing``: articles upserted with conditional writes;
- ``digest_commands``: preview, send and list digests with the Lambda's own code;
- ``site``: render every page (``render``) and sync what changed to the bucket (``sync``,
  ``manifest``), driven by ``build``.

It imports ``chalicelib`` (the models, the templates); ``chalicelib`` never imports it. Its
own dependencies are in ``editor/requirements.txt``. See docs/editing.md.
"""
