"""The dev tools the tests stand on: moto's patched transactions and the DynamoDB Local lane."""
