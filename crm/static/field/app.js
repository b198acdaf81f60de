/* Passerelle field app (no framework): forms that keep what was typed, an offline queue in
   IndexedDB sent to POST /field/sync (protocol: crm/outreach/sync.py), the queue page, the
   duplicate lookup while typing a phone, and the service worker. Every word shown comes from
   templates/field/strings.html, translated by the server. */
(() => {
  'use strict';
  const doc = document;
  const body = doc.body;
  doc.documentElement.classList.add('js');
  const USER = body.dataset.userId || '';
  const CSRF = body.dataset.csrf || '';
  const LANG = doc.documentElement.lang || 'fr';
  const WORDS = {};
  const stringsTemplate = doc.getElementById('field-strings');
  if (stringsTemplate) {
    stringsTemplate.content.querySelectorAll('[data-k]').forEach((e) => {
      WORDS[e.dataset.k] = e.textContent.trim();
    });
  }
  const t = (key, vars) => (WORDS[key] || key).replace(/\{(\w+)\}/g, (m, k) => (vars && k in vars ? String(vars[k]) : m));
  const $ = (sel, root) => (root || doc).querySelector(sel);

  function el(tag, attrs, ...children) {
    const node = doc.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
    return node;
  }

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /* ---- the queue: one IndexedDB store, keyed by client_id --------------------------------- */
  // A record: {client_id, user_id, created_at (ms), state: waiting|refused|conflict, body (the
  // item as sent), result (the server's last answer), summary (what the queue page shows)}.
  let dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const open = indexedDB.open('passerelle-field', 1);
        open.onupgradeneeded = () => open.result.createObjectStore('queue', { keyPath: 'client_id' });
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      dbPromise.catch(() => { dbPromise = null; });
    }
    return dbPromise;
  }
  async function withStore(mode, work) {
    const store = (await db()).transaction('queue', mode).objectStore('queue');
    return new Promise((resolve, reject) => {
      let value;
      const request = work(store);
      if (request) request.onsuccess = () => { value = request.result; };
      store.transaction.oncomplete = () => resolve(value);
      store.transaction.onerror = store.transaction.onabort = () => reject(store.transaction.error);
    });
  }
  const queue = {
    all: () => withStore('readonly', (s) => s.getAll()).then((rows) => rows.sort((a, b) => a.created_at - b.created_at)),
    get: (id) => withStore('readonly', (s) => s.get(id)),
    put: (record) => withStore('readwrite', (s) => s.put(record)).then(changed),
    del: (id) => withStore('readwrite', (s) => s.delete(id)).then(changed),
  };
  const channel = 'BroadcastChannel' in self ? new BroadcastChannel('passerelle-field') : null;
  function changed() {
    if (channel) channel.postMessage('changed');
    refresh();
  }
  if (channel) channel.onmessage = () => refresh();
  const mine = (rows) => rows.filter((r) => r.user_id === USER);

  /* ---- sending ----------------------------------------------------------------------------- */
  let authProblem = false;
  let sending = Promise.resolve();
  const SEND_TIMEOUT_MS = 30000;
  // How long a form waits for the server's answer before the agent moves on (the item is
  // already on the phone and is sent in the background).
  const ANSWER_WAIT_MS = 4000;
  // One send at a time; each call sends everything waiting (the new item included).
  function flush() {
    const next = sending.then(sendWaiting, sendWaiting);
    sending = next.catch(() => {});
    return next;
  }

  async function sendWaiting() {
    const outcome = { results: new Map(), problem: null, detail: '' };
    if (!USER) return outcome;
    const run = async () => {
      for (;;) {
        const waiting = mine(await queue.all()).filter((r) => r.state === 'waiting');
        if (!waiting.length) return;
        const batch = waiting.slice(0, 50);
        let response;
        netState(t('net_sending'));
        // A request that hangs on a weak connection must not hold the queue: it is given up
        // after a while and sent again (the server stores an item once, whatever happens).
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), SEND_TIMEOUT_MS);
        try {
          response = await fetch('/field/sync', {
            method: 'POST',
            credentials: 'same-origin',
            cache: 'no-store',
            signal: abort.signal,
            headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': CSRF },
            body: JSON.stringify({ items: batch.map((r) => r.body) }),
          });
        } catch (err) {
          outcome.problem = 'offline';
          return;
        } finally {
          clearTimeout(timer);
        }
        if (response.status === 401 || response.status === 403) {
          authProblem = true;
          outcome.problem = 'auth';
          return;
        }
        let data = null;
        try { data = await response.json(); } catch (err) { /* a proxy's error page */ }
        if (!response.ok || !data || !Array.isArray(data.results)) {
          outcome.problem = 'http';
          outcome.detail = detailOf(data) || String(response.status);
          return;
        }
        authProblem = false;
        let progress = false;
        for (const result of data.results) {
          const record = batch.find((r) => r.client_id === result.client_id);
          if (!record) continue;
          outcome.results.set(record.client_id, result);
          progress = (await settle(record, result)) || progress;
        }
        if (!progress) return; // a passing server error: the items wait for the next try
      }
    };
    try {
      if (navigator.locks) await navigator.locks.request('passerelle-field-sync', run);
      else await run();
    } catch (err) {
      outcome.problem = outcome.problem || 'offline';
    }
    netState();
    refresh();
    return outcome;
  }

  function detailOf(data) {
    if (!data || data.detail === undefined) return '';
    const d = data.detail;
    if (Array.isArray(d)) return d.map((e) => [e.field, e.msg].filter(Boolean).join(': ')).join('; ');
    return String(d);
  }

  // What an answer does to the record; true when the record left the "waiting" state.
  async function settle(record, result) {
    if (result.status === 'stored' || result.status === 'already_stored') {
      await queue.del(record.client_id);
      if (record.body.type === 'contact') await releaseDependents(record.client_id);
      return true;
    }
    if (result.status === 'refused' || result.status === 'conflict') {
      await queue.put({ ...record, state: result.status, result });
      return true;
    }
    await queue.put({ ...record, result });
    return false;
  }

  // Items about a person logged offline were refused while that contact was not stored:
  // once it is, they can go.
  async function releaseDependents(contactId) {
    for (const r of mine(await queue.all())) {
      if (r.state === 'refused' && r.body.lead_client_id === contactId) await queue.put({ ...r, state: 'waiting' });
    }
  }

  /* ---- the badge, the network state -------------------------------------------------------- */
  async function refresh() {
    let rows = [];
    try { rows = await queue.all(); } catch (err) { return; }
    const count = mine(rows).length;
    const badge = $('#queue-badge');
    if (badge) {
      badge.hidden = count === 0;
      const n = $('[data-queue-count]', badge);
      const label = $('[data-queue-label]', badge);
      if (n) n.textContent = String(count);
      if (label) label.textContent = t(authProblem ? 'badge_signin' : 'badge_waiting');
      badge.classList.toggle('attention', authProblem || mine(rows).some((r) => r.state !== 'waiting'));
    }
    if ($('#queue-list')) renderQueue(rows);
  }

  function netState(text) {
    const node = $('#net-state');
    if (!node) return;
    const value = text || (navigator.onLine ? '' : t('net_offline'));
    if (node.textContent !== value) node.textContent = value;
    node.classList.toggle('offline', !navigator.onLine);
  }

  /* ---- forms: form[data-sync="contact|interaction|update"] ---------------------------------- */
  const PHONE_MIN_DIGITS = 9;
  const digits = (value) => (value.match(/\d/g) || []).length;
  const valueOf = (form, name) => {
    const field = form.elements.namedItem(name);
    if (!field) return '';
    const v = field.value === undefined ? '' : field.value;
    return typeof v === 'string' ? v.trim() : '';
  };
  const all = (form, name) => [...form.querySelectorAll(`[name="${name}"]`)].filter((i) => i.checked).map((i) => i.value);
  const intOrNull = (v) => (/^\d+$/.test(String(v || '')) ? Number(v) : null);
  const orNull = (v) => (v === '' || v === undefined ? null : v);

  function clearErrors(form) {
    form.querySelectorAll('.field-error').forEach((e) => e.remove()); // the server's too
    form.querySelectorAll('[aria-invalid]').forEach((e) => {
      e.removeAttribute('aria-invalid');
      e.removeAttribute('aria-describedby');
    });
    form.querySelectorAll('fieldset[aria-describedby^="err-"]').forEach((e) => e.removeAttribute('aria-describedby'));
    const top = $('#form-error');
    if (top) top.remove();
  }

  // Shows a message next to the named field (or above the form), the field marked invalid.
  function showError(form, name, message) {
    const id = `err-${name || 'form'}-${Math.random().toString(36).slice(2, 7)}`;
    const note = el('p', { class: 'field-error', id, 'data-js': true }, message);
    const field = name ? form.querySelector(`[name="${name}"]`) : null;
    if (!field) {
      form.prepend(note);
      note.setAttribute('role', 'alert');
      return note;
    }
    const group = field.closest('fieldset') || field.closest('.field') || field.parentElement;
    if (field.closest('details')) field.closest('details').open = true;
    if (field.type === 'radio' || field.type === 'checkbox') {
      group.append(note);
      group.setAttribute('aria-describedby', id);
    } else {
      field.insertAdjacentElement('afterend', note);
      field.setAttribute('aria-invalid', 'true');
      field.setAttribute('aria-describedby', id);
    }
    return field;
  }

  // protocol field → form field
  function formFieldOf(name) {
    if (!name) return '';
    if (name.startsWith('person.')) return name.split('.')[1];
    if (name === 'lead_id') return 'phone';
    if (name === 'consent_text_version' || name.startsWith('consents')) return 'consents';
    return name.split('.')[0];
  }

  function validate(form, kind) {
    const problems = [];
    if (kind === 'contact') {
      if (!valueOf(form, 'first_name')) problems.push(['first_name', t('err_first_name')]);
      const phone = valueOf(form, 'phone');
      if (phone && digits(phone) < PHONE_MIN_DIGITS) problems.push(['phone', t('err_phone_short')]);
      if (all(form, 'consents').length && !all(form, 'language').length) problems.push(['language', t('err_language')]);
    }
    return problems;
  }

  function clientIdOf(form) {
    const field = form.elements.namedItem('client_id');
    if (field && field.value) return field.value;
    if (!form.dataset.clientId) form.dataset.clientId = uuid();
    return form.dataset.clientId;
  }
  function renewClientId(form) {
    const field = form.elements.namedItem('client_id');
    if (field) field.value = uuid();
    form.dataset.clientId = uuid();
  }

  function leadRef(form) {
    if (form.dataset.leadClientId) return { lead_id: null, lead_client_id: form.dataset.leadClientId };
    return { lead_id: intOrNull(form.dataset.leadId), lead_client_id: null };
  }

  function buildItem(form, kind) {
    const client_id = clientIdOf(form);
    if (kind === 'contact') {
      return {
        type: 'contact',
        client_id,
        occurred_at: new Date().toISOString(),
        event_id: intOrNull(valueOf(form, 'event_id')),
        lead_id: intOrNull(valueOf(form, 'lead_id')),
        person: {
          first_name: valueOf(form, 'first_name'),
          last_name: orNull(valueOf(form, 'last_name')),
          phone: orNull(valueOf(form, 'phone')),
          language: orNull(all(form, 'language')[0] || ''),
          postcode: orNull(valueOf(form, 'postcode')),
          segments: all(form, 'segments'),
        },
        interest: orNull(all(form, 'interest')[0] || valueOf(form, 'interest')),
        consents: all(form, 'consents').map((purpose) => ({ purpose, granted: true })),
        consent_text_version: orNull(valueOf(form, 'consent_text_version')),
        notes: orNull(valueOf(form, 'notes')),
      };
    }
    if (kind === 'interaction') {
      const item = {
        type: 'interaction',
        client_id,
        ...leadRef(form),
        kind: valueOf(form, 'kind') || all(form, 'kind')[0] || 'note',
        channel: valueOf(form, 'channel') || all(form, 'channel')[0] || 'in_person',
        occurred_at: valueOf(form, 'occurred_at') || new Date().toISOString(),
        notes: orNull(valueOf(form, 'notes')),
        event_id: intOrNull(valueOf(form, 'event_id')),
        interest: orNull(all(form, 'interest')[0] || valueOf(form, 'interest')),
      };
      if (item.lead_client_id === null) delete item.lead_client_id;
      else delete item.lead_id;
      return item;
    }
    // update: every field of the form that differs from what the agent saw (data-base)
    let base = {};
    try { base = JSON.parse(form.dataset.base || '{}'); } catch (err) { base = {}; }
    const changes = {};
    const seen = {};
    // Only the fields an update may change (the forms also carry base_*, next, csrf_token…).
    const names = new Set([...form.elements].map((e) => e.name).filter((n) => UPDATE_FIELDS.includes(n)));
    for (const name of names) {
      const fields = form.querySelectorAll(`[name="${name}"]`);
      const many = name === 'segments' || (fields.length > 1 && fields[0].type === 'checkbox');
      let value = many ? all(form, name) : (fields[0].type === 'radio' ? (all(form, name)[0] || '') : valueOf(form, name));
      if (!many) value = orNull(value);
      seen[name] = name in base ? base[name] : null;
      if (same(value, seen[name])) continue;
      changes[name] = value;
    }
    const baseOut = {};
    for (const name of Object.keys(changes)) baseOut[name] = seen[name];
    const item = { type: 'update', client_id, ...leadRef(form), changes, base: baseOut };
    if (item.lead_client_id === null) delete item.lead_client_id;
    else delete item.lead_id;
    return item;
  }

  const UPDATE_FIELDS = ['first_name', 'last_name', 'language', 'postcode', 'segments', 'stage', 'lost_reason', 'follow_up_on'];
  function comparable(v) {
    if (v === null || v === undefined || v === '') return null;
    if (Array.isArray(v)) return JSON.stringify([...new Set(v.map(String))].sort());
    return String(v).trim();
  }
  const same = (a, b) => comparable(a) === comparable(b);

  function summaryOf(form, kind, item) {
    const who = form.dataset.leadName || (item.lead_id ? t('person_no', { id: item.lead_id }) : t('person_new'));
    if (kind === 'contact') {
      const p = item.person;
      return [p.first_name, p.last_name, p.phone].filter(Boolean).join(' · ');
    }
    if (kind === 'interaction') return `${who} · ${t(`interaction_kind.${item.kind}`)}`;
    return `${who} · ${Object.keys(item.changes).map((f) => t(`field.${f}`)).join(', ')}`;
  }

  async function onSubmit(event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.matches('form[action$="/logout"]')) { onSignOut(event, form); return; }
    if (!form.matches('form[data-sync]')) return;
    event.preventDefault();
    if (form.dataset.busy) return;
    const kind = form.dataset.sync;
    clearErrors(form);
    const problems = validate(form, kind);
    if (problems.length) {
      const first = problems.map(([name, message]) => showError(form, name, message))[0];
      if (first && first.focus) first.focus();
      return;
    }
    const item = buildItem(form, kind);
    if (kind === 'update' && !Object.keys(item.changes).length) {
      confirmIn(form, t('nothing_changed'));
      return;
    }
    form.dataset.busy = '1';
    const button = form.querySelector('[type="submit"]');
    if (button) button.disabled = true;
    try {
      await save(form, kind, item);
    } finally {
      delete form.dataset.busy;
      if (button) button.disabled = false;
    }
  }

  async function save(form, kind, item) {
    // On the phone first: from here on, the item cannot be lost.
    let earlier = null;
    try {
      earlier = await queue.get(item.client_id);
      await queue.put({
        client_id: item.client_id,
        user_id: USER,
        created_at: earlier ? earlier.created_at : Date.now(),
        state: 'waiting',
        body: item,
        result: null,
        summary: summaryOf(form, kind, item),
      });
    } catch (err) {
      // No storage (private window, storage off): the form goes the plain way, if it has one.
      if (form.getAttribute('method') === 'post' && form.getAttribute('action')) {
        confirmIn(form, t('err_storage'));
        HTMLFormElement.prototype.submit.call(form);
      }
      return;
    }
    delete form.dataset.holds;
    const slow = new Promise((resolve) => {
      setTimeout(() => resolve({ results: new Map(), problem: 'slow' }), ANSWER_WAIT_MS);
    });
    const outcome = await Promise.race([flush(), slow]);
    const result = outcome.results.get(item.client_id);
    if (result && (result.status === 'stored' || result.status === 'already_stored')) {
      if (kind === 'contact') {
        contactSaved(form, item, result);
      } else {
        const leadId = result.lead_id || item.lead_id || '';
        const done = form.dataset.done;
        if (done) { location.assign(done.replace('{lead_id}', leadId)); return; }
        form.reset();
        renewClientId(form);
        confirmIn(form, t('saved', { name: form.dataset.leadName || '' }));
      }
    } else if (result && result.status === 'refused') {
      // The form holds it: shown in place, with what was typed; the queue lets it go.
      await queue.del(item.client_id);
      form.dataset.holds = item.client_id;
      form.dataset.holdsResult = JSON.stringify(result);
      const field = showError(form, formFieldOf(result.field), result.detail || result.field || '');
      if (field && field.focus) field.focus();
    } else if (result && result.status === 'conflict') {
      confirmIn(form, t('saved_conflict'), '/field/queue');
      resetForm(form, kind);
    } else {
      confirmIn(form, t(outcome.problem === 'auth' ? 'saved_signin' : 'saved_offline'));
      resetForm(form, kind);
    }
  }

  function resetForm(form, kind) {
    form.reset();
    renewClientId(form);
    delete form.dataset.fix;
    if (kind === 'contact') {
      const lead = form.elements.namedItem('lead_id');
      if (lead) lead.value = '';
      const match = $('#phone-match');
      if (match) match.replaceChildren();
      const more = form.querySelector('details');
      if (more) more.open = false;
      delete form.dataset.langTouched;
      syncLanguage(form);
      if (history.replaceState && location.search.includes('fix=')) history.replaceState(null, '', location.pathname);
      const first = form.elements.namedItem('first_name');
      if (first) first.focus();
    }
  }

  function confirmIn(form, message, href) {
    const box = $('#log-confirm') || form.parentElement.querySelector('.sync-confirm') || (() => {
      const made = el('div', { class: 'sync-confirm', role: 'status', 'aria-live': 'polite', tabindex: '-1' });
      form.before(made);
      return made;
    })();
    box.replaceChildren(el('p', {}, message, href ? ' ' : null, href ? el('a', { href }, t('state_conflict')) : null));
    box.classList.add('shown');
  }

  function contactSaved(form, item, result) {
    const name = item.person.first_name;
    const lines = [el('p', { class: 'ok' }, t(result.duplicate ? 'saved_duplicate' : 'saved', { name }))];
    for (const d of result.differences || []) {
      lines.push(el('p', {}, t('difference', { field: t(`field.${d.field}`), server: d.server, yours: d.yours })));
    }
    if (result.lead_id) lines.push(el('p', {}, el('a', { href: `/field/people/${result.lead_id}` }, t('open_person'))));
    resetForm(form, 'contact');
    const box = $('#log-confirm');
    if (box) {
      box.replaceChildren(...lines);
      box.classList.add('shown');
    }
  }

  /* ---- the log form: language, consent texts, duplicate lookup, fixing a refused item ------ */
  function syncLanguage(form) {
    const language = all(form, 'language')[0] || '';
    form.dataset.lang = language;
    const version = form.elements.namedItem('consent_text_version');
    let versions = {};
    try { versions = JSON.parse(form.dataset.versions || '{}'); } catch (err) { versions = {}; }
    if (version) version.value = versions[language] || '';
  }

  function setLanguage(form, language) {
    const radio = language && form.querySelector(`input[name="language"][value="${language}"]`);
    if (radio && !radio.checked) {
      radio.checked = true;
      syncLanguage(form);
    }
  }

  function postcodeLanguage(form, postcode) {
    if (!/^\d{4}$/.test(postcode)) return '';
    let ranges = [];
    try { ranges = JSON.parse(form.dataset.postcodeLanguages || '[]'); } catch (err) { ranges = []; }
    const n = Number(postcode);
    const hit = ranges.find(([first, last]) => first <= n && n <= last);
    return hit ? hit[2] : '';
  }

  function setupLogForm(form) {
    form.noValidate = true; // checked here, in place, in the agent's language
    renewClientId(form); // a page kept offline must not reuse the id it was rendered with
    syncLanguage(form);
    form.addEventListener('change', (event) => {
      const target = event.target;
      if (target.name === 'language') {
        form.dataset.langTouched = '1';
        syncLanguage(form);
      } else if (target.name === 'event_id' && !form.dataset.langTouched) {
        const option = target.selectedOptions[0];
        setLanguage(form, option && option.dataset.language);
      }
    });
    const postcode = form.elements.namedItem('postcode');
    if (postcode) {
      postcode.addEventListener('input', () => {
        const event = form.elements.namedItem('event_id');
        const eventLanguage = event && event.selectedOptions[0] && event.selectedOptions[0].dataset.language;
        if (!form.dataset.langTouched && !eventLanguage) setLanguage(form, postcodeLanguage(form, postcode.value.trim()));
      });
    }
    const phone = form.elements.namedItem('phone');
    if (phone) setupLookup(form, phone);
    const fix = new URLSearchParams(location.search).get('fix');
    if (fix) loadFix(form, fix);
  }

  // A refused item the form holds goes back to the queue (as refused) when the agent leaves
  // the page or the app without saving it again: never lost.
  function keepHeld(form) {
    const id = form.dataset.holds;
    if (!id || clientIdOf(form) !== id) return;
    const kind = form.dataset.sync;
    const item = buildItem(form, kind);
    const result = form.dataset.holdsResult ? JSON.parse(form.dataset.holdsResult) : null;
    queue.put({ client_id: id, user_id: USER, created_at: Date.now(), state: 'refused', body: item, result, summary: summaryOf(form, kind, item) }).catch(() => {});
    delete form.dataset.holds;
  }
  doc.addEventListener('visibilitychange', () => {
    if (doc.visibilityState === 'hidden') doc.querySelectorAll('form[data-holds]').forEach(keepHeld);
  });

  function setupLookup(form, phone) {
    let timer = null;
    let asked = '';
    const box = $('#phone-match');
    const lead = form.elements.namedItem('lead_id');
    const show = (...nodes) => box && box.replaceChildren(...nodes);
    phone.addEventListener('input', () => {
      clearTimeout(timer);
      if (lead) lead.value = '';
      show();
      phone.removeAttribute('aria-invalid');
      const value = phone.value.trim();
      if (digits(value) < PHONE_MIN_DIGITS) return;
      timer = setTimeout(async () => {
        if (!navigator.onLine) return;
        asked = value;
        let answer;
        try {
          const response = await fetch(`/field/lookup?phone=${encodeURIComponent(value)}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
          if (!response.ok) return;
          answer = await response.json();
        } catch (err) {
          return;
        }
        if (asked !== phone.value.trim()) return; // typed on meanwhile
        if (!answer.valid) {
          show(el('p', { class: 'field-error' }, t('err_phone_impossible')));
          phone.setAttribute('aria-invalid', 'true');
          return;
        }
        if (answer.match) offerMatch(answer.match);
      }, 450);
    });

    function offerMatch(match) {
      const known = el('p', { class: 'known' }, t('already_known', { name: match.name, stage: t(`stage.${match.stage}`) }));
      const state = el('p', { class: 'muted' });
      const choose = (add) => {
        if (lead) lead.value = add ? String(match.id) : '';
        state.textContent = t(add ? 'will_add' : 'will_create');
        addButton.setAttribute('aria-pressed', String(add));
        otherButton.setAttribute('aria-pressed', String(!add));
      };
      const addButton = el('button', { type: 'button', class: 'button small', onclick: () => choose(true) }, t('add_to_person'));
      const otherButton = el('button', { type: 'button', class: 'button small', onclick: () => choose(false) }, t('different_person'));
      show(el('div', { class: 'match' }, known, el('div', { class: 'match-actions' }, addButton, otherButton), state,
        match.url ? el('p', {}, el('a', { href: match.url }, t('open_person'))) : null));
      choose(true);
    }
  }

  async function loadFix(form, id) {
    let record = null;
    try { record = await queue.get(id); } catch (err) { record = null; }
    if (!record || record.user_id !== USER || record.body.type !== 'contact') {
      confirmIn(form, t('fix_missing'));
      return;
    }
    const item = record.body;
    const p = item.person || {};
    const set = (name, value) => {
      const field = form.elements.namedItem(name);
      if (field && 'value' in field) field.value = value === null || value === undefined ? '' : value;
    };
    const tick = (name, values) => form.querySelectorAll(`[name="${name}"]`).forEach((i) => { i.checked = values.includes(i.value); });
    set('client_id', item.client_id);
    const event = form.elements.namedItem('event_id');
    if (event && item.event_id && ![...event.options].some((o) => o.value === String(item.event_id))) {
      event.append(el('option', { value: String(item.event_id) }, `#${item.event_id}`));
    }
    set('event_id', item.event_id);
    set('lead_id', item.lead_id);
    set('first_name', p.first_name);
    set('phone', p.phone);
    set('last_name', p.last_name);
    set('postcode', p.postcode);
    set('notes', item.notes);
    tick('language', p.language ? [p.language] : []);
    tick('segments', p.segments || []);
    tick('interest', item.interest ? [item.interest] : []);
    tick('consents', (item.consents || []).filter((c) => c.granted).map((c) => c.purpose));
    form.dataset.langTouched = '1';
    syncLanguage(form);
    if (p.last_name || p.postcode) form.querySelector('details').open = true;
    form.dataset.fix = id;
    confirmIn(form, t('fixing'));
    if (record.result && record.result.detail) {
      const field = showError(form, formFieldOf(record.result.field), record.result.detail);
      if (field && field.focus) field.focus();
    }
  }

  /* ---- the queue page ---------------------------------------------------------------------- */
  function renderQueue(rows) {
    const list = $('#queue-list');
    const own = mine(rows);
    const others = rows.filter((r) => r.user_id !== USER);
    list.replaceChildren(...own.map(queueItem));
    $('#queue-empty').hidden = own.length > 0;
    const send = $('#queue-send');
    if (send) send.hidden = !own.some((r) => r.state === 'waiting');
    const other = $('#queue-other');
    if (other) {
      other.hidden = others.length === 0;
      // Only what it is and when: the people another agent logged are theirs to see.
      $('#queue-other-list').replaceChildren(...others.map((r) => el('li', { class: 'q-item' },
        el('p', { class: 'q-head' }, el('strong', {}, t(`kind_${r.body.type}`)), ' · ', whenOf(r)),
        el('p', { class: 'muted' }, t('queue_other')))));
    }
  }

  const whenOf = (record) => new Date(record.created_at).toLocaleString(LANG, { dateStyle: 'short', timeStyle: 'short' });

  function queueItem(record) {
    const result = record.result || {};
    const kind = record.body.type;
    const when = whenOf(record);
    const node = el('li', { class: `q-item q-${record.state}`, 'data-client-id': record.client_id },
      el('p', { class: 'q-head' },
        el('span', { class: 'q-kind' }, t(`kind_${kind}`)),
        el('strong', {}, record.summary || ''),
        el('span', { class: `q-state q-state-${record.state}` }, t(`state_${record.state}`))),
      el('p', { class: 'muted' }, t('logged_at', { when })));
    if (record.state === 'refused' && (result.detail || result.field)) {
      const field = formFieldOf(result.field);
      const prefix = field && WORDS[`field.${field}`] ? `${t(`field.${field}`)}: ` : '';
      node.append(el('p', { class: 'q-reason' }, t('reason', { detail: prefix + (result.detail || '') })));
    }
    if (record.state === 'conflict') node.append(conflictTable(result.conflicts || []));
    const actions = el('div', { class: 'q-actions' });
    if (record.state === 'refused' && kind === 'contact') {
      actions.append(el('a', { class: 'button small', href: `/field/log?fix=${encodeURIComponent(record.client_id)}` }, t('fix')));
    } else if (record.state === 'refused') {
      actions.append(el('button', { type: 'button', class: 'button small', onclick: () => retry(record) }, t('try_again')));
    }
    if (record.state === 'conflict') {
      actions.append(
        el('button', { type: 'button', class: 'button small', onclick: () => discard(record) }, t('keep_theirs')),
        el('button', { type: 'button', class: 'button small primary', onclick: () => useMine(record) }, t('use_mine')));
    } else if (record.state === 'refused') {
      actions.append(el('button', { type: 'button', class: 'button small danger', onclick: () => discard(record, true) }, t('discard')));
    }
    if (actions.childElementCount) node.append(actions);
    return node;
  }

  function shown(value) {
    if (value === null || value === undefined || value === '') return t('empty_value');
    if (Array.isArray(value)) return value.join(', ') || t('empty_value');
    return String(value);
  }

  function conflictTable(conflicts) {
    return el('table', { class: 'q-conflicts' },
      el('thead', {}, el('tr', {}, el('td', {}), el('th', { scope: 'col' }, t('yours')), el('th', { scope: 'col' }, t('on_server')))),
      el('tbody', {}, conflicts.map((c) => el('tr', {},
        el('th', { scope: 'row' }, t(`field.${c.field}`)),
        el('td', {}, c.field === 'stage' && c.yours ? t(`stage.${c.yours}`) : shown(c.yours)),
        el('td', {}, c.field === 'stage' && c.server ? t(`stage.${c.server}`) : shown(c.server))))));
  }

  async function discard(record, ask) {
    if (ask && !confirm(t('confirm_discard'))) return;
    await queue.del(record.client_id);
  }

  async function retry(record) {
    await queue.put({ ...record, state: 'waiting' });
    sendNow();
  }

  // "Use mine": a new update whose base is what the server has now.
  async function useMine(record) {
    const old = record.body;
    const base = { ...old.base };
    for (const c of record.result.conflicts || []) base[c.field] = c.server;
    const leadId = record.result.lead_id || old.lead_id;
    const item = { type: 'update', client_id: uuid(), changes: old.changes, base };
    if (leadId) item.lead_id = leadId;
    else item.lead_client_id = old.lead_client_id;
    await queue.put({ client_id: item.client_id, user_id: USER, created_at: record.created_at, state: 'waiting', body: item, result: null, summary: record.summary });
    await queue.del(record.client_id);
    sendNow();
  }

  async function sendNow() {
    const status = $('#queue-status');
    const outcome = await flush();
    if (!status) return;
    const left = mine(await queue.all()).filter((r) => r.state === 'waiting').length;
    if (outcome.problem === 'auth') status.textContent = t('queue_signin');
    else if (outcome.problem === 'offline') status.textContent = t('queue_offline');
    else if (outcome.problem) status.textContent = t('queue_failed', { detail: outcome.detail });
    else if (!left) status.textContent = t('queue_sent');
  }

  /* ---- sign-out: page copies are personal data; the queue stays --------------------------- */
  async function onSignOut(event, form) {
    event.preventDefault();
    let count = 0;
    try { count = mine(await queue.all()).length; } catch (err) { count = 0; }
    if (count && !confirm(t('confirm_signout', { n: count }))) return;
    try {
      if (self.caches) for (const name of await caches.keys()) if (name.startsWith('field-pages-')) await caches.delete(name);
    } catch (err) { /* nothing kept to clear */ }
    HTMLFormElement.prototype.submit.call(form);
  }

  /* ---- start ------------------------------------------------------------------------------- */
  doc.addEventListener('submit', onSubmit);
  const logForm = $('form[data-sync="contact"]');
  if (logForm) setupLogForm(logForm);
  const sendButton = $('#queue-send');
  if (sendButton) sendButton.addEventListener('click', sendNow);
  addEventListener('online', () => { netState(); flush(); });
  addEventListener('offline', () => netState());
  netState();
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  refresh().then(() => flush());
  setInterval(async () => {
    try {
      if (mine(await queue.all()).some((r) => r.state === 'waiting')) flush();
    } catch (err) { /* no storage */ }
  }, 30000);

  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/field/sw.js', { scope: '/field/' }).catch(() => {});
    navigator.serviceWorker.ready.then((reg) => {
      if (reg.active) reg.active.postMessage({ type: 'warm' });
    }).catch(() => {});
  }
})();
