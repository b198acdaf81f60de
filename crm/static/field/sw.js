/* Passerelle field app: the service worker (served at /field/sw.js by crm/web/field/offline.py,
   which puts self.FIELD_CONFIG in front of this file: the versioned asset URLs of this release,
   the pages kept for offline use and a hash of it all, used in the cache names).

   - /static/ assets: cache first (their URLs carry a content hash, they never change);
   - /field/ pages: network first, the last good copy when the network fails, else the
     offline page; a page is personal data: its cache is emptied at sign-out (app.js);
   - never cached: anything but GET, /field/sync, /field/lookup, other sites. */
'use strict';

const CONFIG = self.FIELD_CONFIG || { static: [], pages: [], offline: '/field/offline', root: '', version: 'dev' };
const STATIC_CACHE = 'field-static-' + CONFIG.version;
const PAGES_CACHE = 'field-pages-' + CONFIG.version;
const NEVER = [CONFIG.root + '/field/sync', CONFIG.root + '/field/lookup', CONFIG.root + '/field/sw.js'];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(STATIC_CACHE);
    await cache.addAll(CONFIG.static);
    await warm();
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('field-') && name !== STATIC_CACHE && name !== PAGES_CACHE) {
        await caches.delete(name);
      }
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  const data = event.data || {};
  if (data.type === 'warm') event.waitUntil(warm());
});

// Keeps a copy of the shell pages the phone does not have yet (after install, and again after
// a sign-out emptied the page cache). A page that answers with a redirect (signed out) or an
// error is not kept.
async function warm() {
  const cache = await caches.open(PAGES_CACHE);
  await Promise.all(CONFIG.pages.map(async (url) => {
    try {
      if (await cache.match(url)) return;
      const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
      if (keepable(response)) await cache.put(url, response);
    } catch (err) {
      /* offline: next time */
    }
  }));
}

function keepable(response) {
  return response && response.ok && response.type === 'basic' && !response.redirected;
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || NEVER.includes(url.pathname)) return;
  if (url.pathname.startsWith(CONFIG.root + '/static/')) {
    event.respondWith(staticFirst(request, url));
  } else if (request.mode === 'navigate' && url.pathname.startsWith(CONFIG.root + '/field/')) {
    event.respondWith(pageNetworkFirst(request));
  }
});

async function staticFirst(request, url) {
  const cache = await caches.open(STATIC_CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  try {
    const response = await fetch(request);
    // Only versioned URLs are immutable; others are fetched each time.
    if (keepable(response) && url.searchParams.has('v')) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const older = await caches.match(request, { ignoreSearch: true });
    if (older) return older;
    throw err;
  }
}

async function pageNetworkFirst(request) {
  const cache = await caches.open(PAGES_CACHE);
  try {
    const response = await fetch(request);
    // A form opened to fix one queued item (?fix=) is not a page to keep.
    const keep = keepable(response) && !new URL(request.url).searchParams.has('fix');
    if (keep) await cache.put(request, response.clone());
    if (response.status < 500) return response;
    // A server or proxy failing (a weak connection): the last good copy is better.
    return (await cache.match(request)) || response;
  } catch (err) {
    return (await cache.match(request))
      || (await cache.match(request, { ignoreSearch: true }))
      || (await cache.match(CONFIG.offline))
      || new Response('<!doctype html><title>Offline</title><p>Offline.</p>', {
        status: 503, headers: { 'Content-Type': 'text/html; charset=utf-8' },
      });
  }
}
