"""What borgerdialog's Lambda functions run; the only Python ``chalice package`` ships.

One package per feature, each owning its model, services and blueprint:

- ``core``: settings, AWS clients, logs, faults, the clock, conditional-write helpers,
  templating, outgoing mail, HTTP helpers, the route guard and the OpenAPI route;
- ``articles``: the public article API (model, service, cursors, categories, slugs);
- ``captcha``: challenges (picture, audio) and ``POST /captcha``;
- ``newsletter``: the subscriber store and everything a subscriber does (signup, confirm,
  unsubscribe, export, erase), SES notifications, the newsletter's pages;
- ``limits``: rate limits and time-boxed claims on DynamoDB;
- ``digest``: the weekly digest (planner, queue messages, worker, mail, pacing);
- ``site``: what the API renders of the static site, and its shared assets and headers.

Nothing here imports ``editor`` (the editors' and operators' tools). See docs/architecture.md.
"""
