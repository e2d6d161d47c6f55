"""The newsletter: everything a subscriber does and what happens to their address.

- ``models``: the subscribers table and the consent ledger;
- ``store``: the one place a subscriber's status changes, each change with its ledger
  event in one transaction (signup, confirm, unsubscribe, bounce, complaint, erase);
- ``signup``: the double opt-in signup (CAPTCHA, limits, mail claim, confirmation mail);
- ``lifecycle``: what the confirm and unsubscribe links (and mails) do;
- ``rights``: export and erase, behind a link mailed to the subscribed address (never the
  digest's manage token);
- ``mails``: the confirmation, already-subscribed and rights-link mails;
- ``notifications``, ``mailto``: SES bounces and complaints, unsubscribe by mail;
- ``addresses``, ``tokens``, ``consent``, ``outcomes``: the pieces those share;
- blueprints: ``actions`` (the POSTs, JSON or form), ``pages`` (HTML pages), ``ses_events``.

See docs/newsletter.md.
"""
