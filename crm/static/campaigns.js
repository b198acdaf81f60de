/* Campaign and story pages: language tabs, the editor's live preview, the fields shown for the
   chosen schedule and story, and a confirmation before cancelling. A file, not an inline
   script, so the pages can forbid inline scripts (CSP); texts come from data-* attributes
   already written in the user's language. Without script every page still works: all the
   language panels show one under the other, and the preview shows what was last saved. */
(function () {
  "use strict";

  function each(nodes, fn) { Array.prototype.forEach.call(nodes, fn); }

  // ---- tabs (WAI-ARIA tabs pattern: arrow keys move between languages) ----
  each(document.querySelectorAll("[data-tabs]"), function (box) {
    var list = box.querySelector("[data-tablist]");
    if (!list) { return; }
    var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
    var panels = {};
    each(box.querySelectorAll("[data-panel]"), function (panel) {
      var lang = panel.getAttribute("data-panel");
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", list.querySelector('[data-tab="' + lang + '"]').id);
      panels[lang] = panel;
    });
    function select(lang, focus) {
      tabs.forEach(function (tab) {
        var on = tab.getAttribute("data-tab") === lang;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.tabIndex = on ? 0 : -1;
        panels[tab.getAttribute("data-tab")].hidden = !on;
        if (on && focus) { tab.focus(); }
      });
    }
    tabs.forEach(function (tab, i) {
      tab.addEventListener("click", function () { select(tab.getAttribute("data-tab"), false); });
      tab.addEventListener("keydown", function (event) {
        var to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
        if (to === undefined) { return; }
        event.preventDefault();
        select(tabs[(to + tabs.length) % tabs.length].getAttribute("data-tab"), true);
      });
    });
    var current = tabs.filter(function (t) { return t.getAttribute("aria-selected") === "true"; })[0];
    list.hidden = false;
    box.classList.add("tabs-on");
    select((current || tabs[0]).getAttribute("data-tab"), false);
  });

  // ---- fields shown for the chosen option of a radio group ----
  function showChosen(group, name) {
    if (!group) { return; }
    function update() {
      var checked = group.querySelector('input[name="' + name + '"]:checked');
      var value = checked ? checked.value : "";
      each(group.querySelectorAll("[data-show-when]"), function (el) {
        el.hidden = el.getAttribute("data-show-when") !== value;
      });
    }
    group.addEventListener("change", update);
    update();
  }
  showChosen(document.querySelector("[data-story-modes]"), "story_mode");
  showChosen(document.querySelector("[data-schedule-kinds]"), "schedule_kind");

  // ---- confirmation before an action that cannot be undone ----
  each(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // ---- the editor's live preview ----
  var form = document.querySelector("form[data-preview-url]");
  if (!form) { return; }
  var token = form.querySelector("input[name=csrf_token]");
  var areas = form.querySelectorAll("textarea[data-message]");
  var channel = form.querySelector("[data-preview-channel]");
  var story = form.querySelector("[data-preview-story]");
  var timer = null;
  var latest = 0;

  function t(name) { return form.getAttribute("data-t-" + name) || ""; }

  function show(lang, info) {
    var box = form.querySelector('[data-preview="' + lang + '"]');
    var problems = form.querySelector('[data-problems="' + lang + '"]');
    var area = form.querySelector('textarea[data-message="' + lang + '"]');
    var tab = document.querySelector('[data-tab="' + lang + '"]');
    var body = box.querySelector("[data-role=body]");
    var meta = box.querySelector("[data-role=meta]");
    var found = (info && info.problems) || [];
    problems.textContent = "";
    found.forEach(function (problem) {
      var line = document.createElement("p");
      line.className = "field-error";
      line.textContent = (problem.line ? t("line").replace("{line}", problem.line) + ": " : "") +
        problem.message;
      problems.appendChild(line);
    });
    if (info && info.body !== undefined) {
      body.className = "prewrap";
      body.textContent = info.body;
      meta.textContent = t("characters") + ": " + info.characters + " · " + t("segments") + ": " +
        info.segments + " · " + (t(info.encoding) || info.encoding);
    } else {
      body.className = "muted";
      body.textContent = found.length ? "" : t("empty");
      meta.textContent = "";
    }
    if (found.length) { area.setAttribute("aria-invalid", "true"); } else { area.removeAttribute("aria-invalid"); }
    if (tab) { tab.classList.toggle("tab-error", found.length > 0); }
  }

  function update() {
    var messages = {};
    each(areas, function (area) {
      if (area.value.trim()) { messages[area.getAttribute("data-message")] = area.value; }
    });
    var payload = { messages: messages, channel: channel && channel.value === "telegram" ? "telegram" : "sms" };
    var mode = form.querySelector("input[name=story_mode]:checked");
    if (story && story.value && mode && mode.value === "fixed") {
      payload.story_id = parseInt(story.value, 10);
    }
    var mine = ++latest;
    form.setAttribute("aria-busy", "true");
    fetch(form.getAttribute("data-preview-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": token ? token.value : ""
      },
      body: JSON.stringify(payload)
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      // An older answer arriving late never replaces a newer one.
      if (mine !== latest) { return; }
      form.removeAttribute("aria-busy");
      if (!data) { return; }
      each(areas, function (area) {
        var lang = area.getAttribute("data-message");
        show(lang, data.languages[lang]);
      });
    }).catch(function () {
      if (mine === latest) { form.removeAttribute("aria-busy"); }
    });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 400);
  }
  each(areas, function (area) { area.addEventListener("input", later); });
  if (channel) { channel.addEventListener("change", later); }
  if (story) { story.addEventListener("change", later); }
  each(form.querySelectorAll("input[name=story_mode]"), function (radio) {
    radio.addEventListener("change", later);
  });
})();
