"""Rate limits and time-boxed claims on DynamoDB, each one conditional write, so they hold
across Lambda instances: ``limiter`` (count, refund, claim, release, forget) over ``model``
(the ratelimits table); ``subjects`` (what a per-IP limit counts). Subjects are stored as
keyed hashes."""
