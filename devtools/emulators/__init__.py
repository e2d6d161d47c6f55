"""The local stand-ins for AWS, and every change we make to them, in one place.

- ``moto_server``: start and stop a real moto server process on a loopback port;
- ``moto_launcher``: moto's own server with DynamoDB requests serialised (moto evaluates a
  condition and writes without a lock between, so racing conditional writes could both win);
- ``moto_transactions``: TransactWriteItems rolling back by the items it names (moto 5.2
  deep-copies every table a transaction names, which made the digest bench quadratic);
- ``dynamodb_local``: AWS's own DynamoDB Local, a stricter second DynamoDB for the lane of
  ``make test``, bound to loopback by ``LoopbackDynamoDBLocal.java``;
- ``chalice_local``: ``chalice local`` giving the app the TCP peer as ``identity.sourceIp``,
  as API Gateway does (chalice's own says 127.0.0.1 for every caller).

Each module's docstring names the upstream behaviour it works around; see
docs/decisions/moto-server.md and docs/decisions/dynamodb-local-lane.md.
"""
