"""borgerdialog: the services behind the Chalice routes (no Chalice imports outside api/)."""
