/* Center for Borgerdialog: the signup's proof of work, run in a Web Worker by site.js while
   the visitor types. ALTCHA's protocol (SHA-256): find the number n in [0, maxnumber] with
   SHA-256(salt + n) == challenge, then answer with ALTCHA's payload, base64 of
   {algorithm, challenge, number, salt, signature, took}. The server's side and why:
   chalicelib/captcha/work.py, docs/captcha.md#proof-of-work. No third party, no cookie:
   the browser's own WebCrypto does the hashing. */
"use strict";

function fromHex(hex) {
  var bytes = new Uint8Array(hex.length / 2);
  for (var i = 0; i < bytes.length; i += 1) {
    bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  }
  return bytes;
}

function same(digest, target) {
  var bytes = new Uint8Array(digest);
  for (var i = 0; i < target.length; i += 1) {
    if (bytes[i] !== target[i]) { return false; }
  }
  return true;
}

async function solve(puzzle) {
  var encoder = new TextEncoder();
  var target = fromHex(puzzle.challenge);
  for (var number = 0; number <= puzzle.maxnumber; number += 1) {
    // One digest at a time: measured in Chromium, batching them is no faster.
    var digest = await crypto.subtle.digest("SHA-256", encoder.encode(puzzle.salt + number));
    if (same(digest, target)) { return number; }
  }
  throw new Error("no number solves the puzzle");
}

self.onmessage = function (event) {
  var puzzle = event.data;
  var started = performance.now();
  solve(puzzle).then(function (number) {
    var payload = {
      algorithm: puzzle.algorithm, challenge: puzzle.challenge, number: number,
      salt: puzzle.salt, signature: puzzle.signature, took: Math.round(performance.now() - started)
    };
    // The salt and the other fields are ASCII, so btoa takes the JSON as it is.
    self.postMessage({ payload: btoa(JSON.stringify(payload)) });
  }, function (error) {
    self.postMessage({ error: String(error && error.message || error) });
  });
};
