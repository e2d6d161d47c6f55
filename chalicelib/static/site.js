/* Center for Borgerdialog: the site's one script. Progressive enhancement only: every
   form also works without it (POST to the API, 303 to a result page). No inline script
   anywhere, so the CSP can say script-src 'self'. The signup's proof of work runs in a
   Web Worker of our own (proof-of-work.js, worker-src 'self') while the visitor types. */
(function () {
  "use strict";

  function text(el, message) {
    el.textContent = message || "";
  }

  // An error whose message is for the visitor (Danish), unlike a browser's own.
  function said(message) {
    var error = new Error(message);
    error.danish = message;
    return error;
  }

  function readJSON(response) {
    return response.text().then(function (body) {
      try { return body ? JSON.parse(body) : {}; } catch (e) { return {}; }
    });
  }

  // The proof of work needs a Web Worker with WebCrypto; a browser without them keeps the
  // page as it is without JavaScript (a link to the API's form page, which needs no work).
  function canWork() {
    return Boolean(window.Worker && window.TextEncoder && window.crypto && window.crypto.subtle);
  }

  function Signup(form) {
    this.form = form;
    this.api = form.getAttribute("data-api");
    this.workScript = form.getAttribute("data-work-script");
    this.worker = null;
    this.proof = null;  // a promise of the solved proof of work, or null: the challenge has none
    this.proofReady = false;
    this.image = form.querySelector("[data-captcha-image]");
    this.idField = form.querySelector("input[name=captcha_id]");
    this.answer = form.querySelector("input[name=captcha_answer]");
    this.audio = form.querySelector("[data-captcha-audio]");
    this.captchaError = form.querySelector("[data-captcha-error]");
    this.status = form.querySelector("[data-form-status]");
    this.submit = form.querySelector("button[type=submit]");
    this.audioUrl = "";
    this.audioBlob = "";
    // What to say beside the answer field when a refused answer brought a new picture
    // (chalicelib/captcha/words.py; the no-JavaScript form page says the same).
    try {
      this.afterRefusal = JSON.parse(form.getAttribute("data-captcha-messages") || "{}");
    } catch (e) {
      this.afterRefusal = {};
    }
  }

  Signup.prototype.say = function (kind, message) {
    this.status.className = "notice " + kind;
    this.status.setAttribute("role", kind === "error" ? "alert" : "status");
    text(this.status, message);
  };

  // A message beside the answer field (empty: none), and the field marked as wrong.
  Signup.prototype.fieldError = function (message) {
    text(this.captchaError, message);
    this.captchaError.hidden = !message;
    if (message) {
      this.answer.setAttribute("aria-invalid", "true");
    } else {
      this.answer.removeAttribute("aria-invalid");
    }
  };

  Signup.prototype.newChallenge = function () {
    var self = this;
    self.image.setAttribute("alt", "Henter nyt billede …");
    return fetch(self.api + "/captcha", {
      method: "POST",
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return readJSON(response).then(function (data) {
        if (!response.ok || !data.captcha_id) {
          throw new Error(data.Message || "Billedet kunne ikke hentes. Prøv igen om lidt.");
        }
        self.idField.value = data.captcha_id;
        self.image.src = data.image_url;
        self.image.setAttribute("alt", "Billede med fem tegn, som du skal skrive i feltet nedenfor");
        self.audioUrl = data.audio_url || "";
        self.forgetAudio();
        self.answer.value = "";
        self.startWork(data.proof_of_work || null);
      });
    }).catch(function (error) {
      self.say("error", error.message);
    });
  };

  // Solve the challenge's proof of work in a worker, now, while the visitor reads and types;
  // a new challenge stops the old work.
  Signup.prototype.startWork = function (puzzle) {
    var self = this;
    if (self.worker) { self.worker.terminate(); }
    self.worker = null;
    self.proof = null;
    self.proofReady = false;
    if (!puzzle) { return; }
    var worker = new Worker(self.workScript);
    self.worker = worker;
    self.proof = new Promise(function (resolve, reject) {
      worker.onmessage = function (event) {
        worker.terminate();
        if (event.data && event.data.payload) {
          if (self.worker === worker) { self.proofReady = true; }
          resolve(event.data.payload);
        } else {
          reject(new Error(event.data && event.data.error));
        }
      };
      worker.onerror = function (event) {
        event.preventDefault();
        reject(new Error("the worker failed"));
      };
    });
    self.proof.catch(function () { /* said when the visitor sends the form */ });
    worker.postMessage(puzzle);
  };

  Signup.prototype.forgetAudio = function () {
    this.audio.removeAttribute("src");
    if (this.audioBlob) {
      URL.revokeObjectURL(this.audioBlob);
      this.audioBlob = "";
    }
  };

  // The audio is made by the API when asked for. It is fetched here with Accept: audio/wav,
  // because API Gateway answers bytes only to a request whose first Accept type is a binary
  // one, which a browser's own media request is not; it then plays from a blob: URL.
  Signup.prototype.play = function () {
    var self = this;
    if (!self.audioUrl) { return; }
    var start = function () {
      var played = self.audio.play();
      if (played && played.catch) {
        played.catch(function () { /* the visitor can press again; nothing to report */ });
      }
    };
    if (self.audioBlob) { start(); return; }
    fetch(self.audioUrl, { headers: { "Accept": "audio/wav" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          return readJSON(response).then(function (data) {
            throw new Error(data.Message || "Lyden kunne ikke hentes. Prøv igen om lidt.");
          });
        }
        return response.blob();
      }).then(function (blob) {
        self.forgetAudio();
        self.audioBlob = URL.createObjectURL(blob);
        self.audio.src = self.audioBlob;
        start();
      }).catch(function (error) {
        self.fieldError(error.message);
      });
  };

  Signup.prototype.send = function (event) {
    var self = this;
    if (!self.proof) {
      // A challenge without proof of work (the API's own form page): the browser posts the
      // form itself, as without JavaScript.
      return;
    }
    event.preventDefault();
    var data = new FormData(self.form);
    var payload = {
      email: data.get("email") || "",
      captcha_id: data.get("captcha_id") || "",
      captcha_answer: data.get("captcha_answer") || "",
      topics: data.getAll("topics"),
      consent: data.get("consent") === "yes",
      consent_version: data.get("consent_version") || "",
      // The page this form is on, for the consent log (our pages send no Referer).
      form_page: window.location.origin + window.location.pathname
    };
    self.submit.disabled = true;
    self.fieldError("");
    self.say("", self.proofReady ? "Sender …" : "Sender … Din browser gør lige tilmeldingen klar.");
    self.proof.then(function (proof) {
      payload.proof_of_work = proof;
      return fetch(self.form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify(payload)
      });
    }, function () {
      throw said("Din browser kunne ikke gøre tilmeldingen klar. Hent et nyt billede og prøv "
        + "igen, eller brug tilmeldingssiden uden JavaScript.");
    }).then(function (response) {
      return readJSON(response).then(function (body) {
        if (response.ok) {
          self.form.querySelector("[data-fields]").hidden = true;
          self.say("success", body.message || self.form.getAttribute("data-success"));
          return;
        }
        var code = body.Code || "";
        var instead = self.afterRefusal[code];
        if (instead) {
          // The picture could not be used (a wrong answer, expired, used): a new one,
          // and the message beside the answer field says so.
          self.say("", "");
          self.newChallenge().then(function () {
            self.fieldError(instead);
            self.answer.focus();
          });
        } else if (code === "CaptchaMissing") {
          self.say("", "");
          self.fieldError(body.Message || "Skriv tegnene fra billedet.");
          self.answer.focus();
        } else {
          self.say("error", body.Message || "Tilmeldingen mislykkedes. Prøv igen.");
          // A limit keeps the picture's answer spent; other refusals (an address, a
          // consent) come before the picture is checked, and busy AWS gives it back.
          if (response.status === 429) { self.newChallenge(); }
        }
      });
    }).catch(function (error) {
      self.say("error", (error && error.danish) || "Der er ingen forbindelse lige nu. Prøv igen om lidt.");
    }).then(function () {
      self.submit.disabled = false;
    });
  };

  Signup.prototype.start = function () {
    var self = this;
    self.form.hidden = false;
    var i;
    var jsOnly = document.querySelectorAll("[data-js-only]");
    for (i = 0; i < jsOnly.length; i += 1) { jsOnly[i].hidden = false; }
    var noJs = document.querySelectorAll("[data-nojs-only]");
    for (i = 0; i < noJs.length; i += 1) { noJs[i].hidden = true; }
    self.form.querySelector("[data-captcha-reload]").addEventListener("click", function () {
      self.fieldError("");
      self.newChallenge();
    });
    self.form.querySelector("[data-captcha-play]").addEventListener("click", function () {
      self.play();
    });
    self.form.addEventListener("submit", function (event) { self.send(event); });
    if (!self.idField.value) {
      self.newChallenge();
    } else {
      self.audioUrl = self.form.getAttribute("data-audio-url") || "";
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    if (!canWork()) { return; }
    var forms = document.querySelectorAll("form[data-signup]");
    for (var i = 0; i < forms.length; i += 1) {
      new Signup(forms[i]).start();
    }
  });
}());
