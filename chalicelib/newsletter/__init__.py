"""The newsletter: everything a subscriber does and what happens to their address.

- ``models``: the subscribers table and the consent ledger;
- ``store``: the one place a subscriber's status or preferences change, each change with its
  ledger event in one transaction (signup, confirm, preferences, unsubscribe, bounce,
  complaint, erase);
- ``signup``: the double opt-in signup (CAPTCHA, limits, mail claim, confirmation mail);
- ``lifecycle``: what the confirm (and its welcome mail) and unsubscribe links (and mails) do;
- ``preferences``: topics and digest frequency, from the manage link;
- ``rights``: export and erase, behind a link mailed to the subscribed address (never the
  digest's manage token);
- ``mails``: the confirmation, already-subscribed, welcome and rights-link mails;
- ``notifications``, ``mailto``: SES bounces and complaints, unsubscribe by mail;
- ``addresses``, ``tokens``, ``consent``, ``outcomes``: the pieces those share;
- blueprints: ``actions`` (the POSTs, JSON or form), ``pages`` (HTML pages), ``ses_events``.

See docs/newsletter.md.
"""
