/* The reply form's live SMS counter. A file, not an inline script, so the pages can forbid
   inline scripts (CSP). It posts the draft (with the form's CSRF token) to the session's
   /inbox/segments, which answers the counter already written in the user's language.
   Without script the form still works: the count shows after a refused send. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-segments-url]");
  if (!form) { return; }
  var body = form.querySelector("textarea[name=body]");
  var channel = form.querySelector("select[name=channel]");
  var output = document.getElementById("segment-count");
  var lookalikes = document.getElementById("lookalikes-field");
  var token = form.querySelector("input[name=csrf_token]");
  var timer = null;
  var latest = 0;

  function isSms() { return !channel || channel.value === "sms"; }

  function update() {
    var sms = isSms();
    output.hidden = !sms;
    if (lookalikes) { lookalikes.hidden = !sms; }
    if (!sms) { return; }
    var mine = ++latest;
    var data = new URLSearchParams();
    data.set("csrf_token", token ? token.value : "");
    data.set("body", body.value);
    fetch(form.getAttribute("data-segments-url"), {
      method: "POST", body: data, credentials: "same-origin", headers: { "Accept": "text/html" }
    }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      // An older answer arriving late never replaces a newer one.
      if (html !== null && mine === latest) { output.innerHTML = html; }
    }).catch(function () { /* the count is a help, not a condition for sending */ });
  }

  body.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 250);
  });
  if (channel) { channel.addEventListener("change", update); }
  update();
})();
