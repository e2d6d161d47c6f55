"""What editors and operators run, never shipped to Lambda: ``borgerdialog`` (the console
script, borgerdialog.py) or ``python -m editor``.

- ``cli``: the command (publish, preview, rebuild, digest), its exit codes;
- ``target``: which stack (``make run``'s stack file, or a deployed stage), settled first;
- ``progress``: the progress bar, ``--quiet``;
- ``content``: Markdown articles with front matter, parsed and sanitised, alt text required;
- ``images``: pictures beside the Markdown, their variants made and uploaded once;
- ``pages``: pages that are not articles (``content/sider/``), in the site table;
- ``publishing``: articles and pages upserted with conditional writes, pictures first;
- ``preview``: one file as it will look, served locally or under a private prefix;
- ``digest_commands``: preview, send and list digests with the Lambda's own code;
- ``site``: render every page (``render``) and sync what changed to the bucket (``sync``,
  ``manifest``), driven by ``build``.

It imports ``chalicelib`` (the models, the templates); ``chalicelib`` never imports it. Its
own dependencies are in ``editor/requirements.txt``. See docs/editing.md.
"""
