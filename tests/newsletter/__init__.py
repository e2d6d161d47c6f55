"""The newsletter: signup, the links in mails, the ledger, bounces, unsubscribe by mail, and
their fault matrices."""
