/* Center for Borgerdialog: the site's one script. Progressive enhancement only: every
   form also works without it (POST to the API, 303 to a result page). No inline script
   anywhere, so the CSP can say script-src 'self'. */
(function () {
  "use strict";

  function text(el, message) {
    el.textContent = message || "";
  }

  function readJSON(response) {
    return response.text().then(function (body) {
      try { return body ? JSON.parse(body) : {}; } catch (e) { return {}; }
    });
  }

  function Signup(form) {
    this.form = form;
    this.api = form.getAttribute("data-api");
    this.image = form.querySelector("[data-captcha-image]");
    this.idField = form.querySelector("input[name=captcha_id]");
    this.answer = form.querySelector("input[name=captcha_answer]");
    this.audio = form.querySelector("[data-captcha-audio]");
    this.status = form.querySelector("[data-form-status]");
    this.submit = form.querySelector("button[type=submit]");
    this.audioUrl = "";
  }

  Signup.prototype.say = function (kind, message) {
    this.status.className = "notice " + kind;
    this.status.setAttribute("role", kind === "error" ? "alert" : "status");
    text(this.status, message);
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
        self.image.setAttribute("alt", "Billede med de tegn, du skal skrive i feltet nedenfor");
        self.audioUrl = data.audio_url || "";
        self.answer.value = "";
      });
    }).catch(function (error) {
      self.say("error", error.message);
    });
  };

  Signup.prototype.play = function () {
    if (!this.audioUrl) { return; }
    this.audio.src = this.audioUrl;
    var played = this.audio.play();
    if (played && played.catch) {
      played.catch(function () { /* the visitor can press again; nothing to report */ });
    }
  };

  Signup.prototype.send = function (event) {
    var self = this;
    event.preventDefault();
    var data = new FormData(self.form);
    var payload = {
      email: data.get("email") || "",
      captcha_id: data.get("captcha_id") || "",
      captcha_answer: data.get("captcha_answer") || "",
      topics: data.getAll("topics"),
      consent: data.get("consent") === "yes",
      consent_version: data.get("consent_version") || ""
    };
    self.submit.disabled = true;
    self.say("", "Sender …");
    fetch(self.form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(payload)
    }).then(function (response) {
      return readJSON(response).then(function (body) {
        if (response.ok) {
          self.form.querySelector("[data-fields]").hidden = true;
          self.say("success", body.message || self.form.getAttribute("data-success"));
          return;
        }
        self.say("error", body.Message || "Tilmeldingen mislykkedes. Prøv igen.");
        // A challenge is used up by any attempt: show a fresh one.
        self.newChallenge();
      });
    }).catch(function () {
      self.say("error", "Der er ingen forbindelse lige nu. Prøv igen om lidt.");
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
    var forms = document.querySelectorAll("form[data-signup]");
    for (var i = 0; i < forms.length; i += 1) {
      new Signup(forms[i]).start();
    }
  });
}());
