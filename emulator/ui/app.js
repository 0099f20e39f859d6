// The emulator's web UI. Plain script, no framework, no build step: it reads the control plane
// (/__emulator/...) and, whenever the event stream (GET /__emulator/events) says a topic changed,
// refetches what the page on screen shows. Nothing polls.
'use strict';

const API = '/__emulator';
const TOKEN_HEADER = 'X-Emulator-Token';
const TOKEN_KEY = 'prove-emulator-admin-token';
// emulator/webhooks.py EVENT_TYPES (tests/test_ui_http.py checks that they agree).
const EVENT_TYPES = ['PHONE_NUMBER_CHANGE', 'DISCONNECT', 'PORT', 'LINE_TYPE_CHANGE', 'MOVED_OUT_OF_COVERAGE'];
// What each page shows (its loaders, below), and the event stream's topics each loader follows.
const PAGE_LOADERS = {
  phone: ['sms', 'flows'],
  flows: ['flows'],
  numbers: ['scenarios'],
  webhooks: ['webhooks'],
  clock: ['clock'],
};
const FOLLOWS = {
  sms: ['sms'],
  flows: ['flows'],
  webhooks: ['webhooks'],
  clock: ['clock', 'flows', 'webhooks'], // its pending timers come and go with flows and deliveries
  scenarios: [], // no event for a scenario reload: read on each visit
};
const STREAM_TOPICS = ['sms', 'flows', 'webhooks', 'clock'];
const MAX_RETRY_MS = 10000;
const REFETCH_GAP_MS = 100; // under a load test the topics change all the time: refetch at most this often
const MAX_LISTED = 200; // flows and deliveries drawn (newest first); the emulator may hold thousands

const $ = (id) => document.getElementById(id);
const state = {
  page: 'phone',
  arg: '', // the page's selection from the hash: #phone/2025550100, #flows/<correlationId>
  sms: null,
  flows: null,
  flow: null, // the selected flow's detail (with its timeline), or {gone: id}
  deliveries: null,
  clock: null,
  clockRead: 0, // performance.now() when state.clock was read, to tick an unfrozen clock on screen
  personas: null,
  rendered: {}, // page -> the JSON last rendered, so an unchanged refetch leaves the DOM (and inputs) alone
  waitingForToken: false,
};

// -- the admin token ------------------------------------------------------------------------------

let memoryToken = null; // when sessionStorage is unavailable (e.g. disabled storage)

function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) ?? memoryToken; } catch { return memoryToken; }
}

function keepToken(value) {
  memoryToken = value;
  try { sessionStorage.setItem(TOKEN_KEY, value); } catch { /* memory only */ }
}

function headers(extra) {
  const out = { Accept: 'application/json', ...extra };
  const value = token();
  if (value) out[TOKEN_HEADER] = value;
  return out;
}

function needToken(message) {
  state.waitingForToken = true;
  $('token-form').hidden = false;
  $('token-error').textContent = token() ? message : '';
  setLive('token', 'needs the admin token');
  if (document.activeElement?.tagName !== 'INPUT') $('token-input').focus();
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  keepToken($('token-input').value.trim());
  $('token-input').value = '';
  $('token-form').hidden = true;
  state.waitingForToken = false;
  reloadAll();
  connect();
});

class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, { method = 'GET', body } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const reply = await fetch(API + path, init);
  const json = await reply.json().catch(() => null);
  if (reply.status === 401) needToken(json?.message ?? 'the admin token was refused');
  if (!reply.ok) throw new ApiError(json?.message ?? `HTTP ${reply.status}`, reply.status, json?.code);
  return json;
}

// -- loading: one loader per topic, coalesced ------------------------------------------------------

const LOADERS = {
  async sms() { state.sms = (await api('/sms')).messages; },
  async flows() {
    state.flows = (await api('/flows')).flows;
    if (state.page === 'flows' && state.arg) await loadFlow(state.arg);
  },
  async webhooks() { state.deliveries = (await api('/webhooks/deliveries')).deliveries; },
  async clock() {
    state.clock = await api('/clock');
    state.clockRead = performance.now();
  },
  async scenarios() { state.personas = (await api('/scenarios')).personas; },
};

async function loadFlow(id) {
  try {
    state.flow = await api(`/flows/${encodeURIComponent(id)}`);
  } catch (error) {
    if (![400, 404, 410].includes(error.status)) throw error; // 410: it expired or was evicted lately
    state.flow = { gone: id };
  }
}

const running = {};
const again = {};
const stale = new Set(Object.keys(LOADERS));

// Fetch a topic (once at a time: a change during a fetch fetches again after it), then redraw.
function load(topic) {
  stale.delete(topic);
  if (running[topic]) {
    again[topic] = true;
    return running[topic];
  }
  running[topic] = (async () => {
    try {
      for (;;) {
        again[topic] = false;
        await LOADERS[topic]();
        if (!again[topic]) break;
        render();
        await new Promise((resolve) => { setTimeout(resolve, REFETCH_GAP_MS); });
      }
      render();
    } catch (error) {
      if (error.status !== 401) notify(`Could not read ${topic}: ${error.message}`);
    } finally {
      running[topic] = null;
    }
  })();
  return running[topic];
}

// A topic changed: refetch what follows it if the page on screen shows that, else when a page that does is shown.
function changed(topic) {
  for (const [loader, topics] of Object.entries(FOLLOWS)) {
    if (!topics.includes(topic)) continue;
    if (PAGE_LOADERS[state.page].includes(loader)) load(loader);
    else stale.add(loader);
  }
}

function reloadAll() {
  for (const topic of Object.keys(LOADERS)) stale.add(topic);
  for (const topic of PAGE_LOADERS[state.page]) load(topic);
}

// -- the event stream, read with fetch so that it can send the admin token ------------------------------

let stream = null; // the AbortController of the current connection
let retryMs = 1000;

function setLive(stateName, text) {
  const live = $('live');
  live.dataset.state = stateName;
  live.textContent = text;
}

async function connect() {
  stream?.abort();
  const abort = new AbortController();
  stream = abort;
  setLive('connecting', 'connecting…');
  let stopped = false;
  try {
    const reply = await fetch(API + '/events', { headers: headers({ Accept: 'text/event-stream' }), signal: abort.signal,
                                                 cache: 'no-store' });
    if (reply.status === 401) {
      needToken((await reply.json().catch(() => null))?.message ?? 'the admin token was refused');
      return; // until a token is given
    }
    if (!reply.ok || !reply.body) throw new Error(`HTTP ${reply.status}`);
    const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event.name === 'ready') {
          retryMs = 1000;
          setLive('live', 'live');
          (window.__ui ??= { loaded: {} }).live ??= performance.now(); // bench/ui_first_page.py reads it
          reloadAll(); // whatever changed while disconnected (or before the stream was there)
        } else if (event.name === 'shutdown') {
          stopped = true;
        } else if (STREAM_TOPICS.includes(event.name)) {
          changed(event.name);
        }
      }
    }
  } catch (error) {
    if (abort.signal.aborted) return;
  }
  if (abort.signal.aborted || stream !== abort) return;
  setLive('offline', stopped ? 'emulator stopped: reconnecting…' : 'reconnecting…');
  setTimeout(() => { if (stream === abort) connect(); }, retryMs);
  retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
}

function parseEvent(block) {
  const event = { name: 'message', data: '' };
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue; // a heartbeat comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event.name = value;
    else if (field === 'data') event.data += value;
  }
  return event;
}

// -- pages and the hash: #phone, #phone/2025550100, #flows/<id>, #numbers, #webhooks, #clock; #...&token=x --

function readHash() {
  const parts = location.hash.replace(/^#/, '').split('&');
  let route = '';
  for (const part of parts) {
    if (part.startsWith('token=')) {
      keepToken(decodeURIComponent(part.slice(6)));
    } else if (part) {
      route = part;
    }
  }
  if (parts.some((part) => part.startsWith('token='))) {
    history.replaceState(null, '', location.pathname + location.search + (route ? `#${route}` : ''));
  }
  const [page, ...rest] = route.split('/');
  return { page: PAGE_LOADERS[page] ? page : 'phone', arg: decodeURIComponent(rest.join('/')) };
}

function show() {
  const { page, arg } = readHash();
  const flowChanged = page === 'flows' && arg !== state.arg;
  state.page = page;
  state.arg = arg;
  for (const section of document.querySelectorAll('.page')) section.hidden = section.id !== `page-${page}`;
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('current', link.dataset.page === page);
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (flowChanged) {
    state.flow = null;
    if (arg) stale.add('flows');
  }
  if (page === 'numbers') stale.add('scenarios'); // no event for a scenario reload: read on each visit
  for (const topic of PAGE_LOADERS[page].filter((name) => stale.has(name))) load(topic);
  render();
}

window.addEventListener('hashchange', show);

// -- drawing ----------------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
  return element;
}

function render() {
  const renderers = { phone: renderPhone, flows: renderFlows, numbers: renderNumbers, webhooks: renderWebhooks,
                      clock: renderClock };
  renderers[state.page]();
}

// Redraw a page only when what it shows changed, and mark it loaded (tests and bench/ui_first_page.py wait for it).
function changedSince(page, data) {
  const text = JSON.stringify(data);
  if (state.rendered[page] === text) return false;
  state.rendered[page] = text;
  const section = $(`page-${page}`);
  if (!('loaded' in section.dataset)) {
    section.dataset.loaded = '';
    (window.__ui ??= { loaded: {} }).loaded[page] = performance.now();
  }
  return true;
}

function showMore(id, total, what) {
  $(id).hidden = total <= MAX_LISTED;
  $(id).textContent = `${total - MAX_LISTED} ${what} not shown (the newest ${MAX_LISTED} are).`;
}

function shortId(id) {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

function clockTime(instant) {
  return instant ? `${instant.slice(11, 19)}Z` : '';
}

function notify(text, kind = 'error') {
  const notice = $('notice');
  notice.textContent = text;
  notice.dataset.kind = kind;
  notice.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { notice.hidden = true; }, kind === 'error' ? 8000 : 4000);
}

function copyButton(text) {
  const button = h('button', { type: 'button', class: 'copy', title: `Copy ${text}` }, 'Copy');
  button.addEventListener('click', () => copy(text, button));
  return button;
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Not a secure context (e.g. reached by a LAN name over http): the old way.
    const area = h('textarea', { class: 'offscreen', readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = 'Copy'; }, 1200);
}

function isOpen(flow) {
  return Boolean(flow.possession) && !['succeeded', 'failed'].includes(flow.possession.status);
}

function describeFlow(flow) {
  const possession = flow.possession ? `${flow.possession.method} ${flow.possession.status}` : 'no possession check';
  return `${flow.product} · ${possession} · ${flow.state}`;
}

// -- customer actions (POST /__emulator/{flows|phones}/.../customer) ------------------------------------

async function act(path, action, fields) {
  try {
    const result = await api(path, { method: 'POST', body: { action, ...fields } });
    const reply = result.reply ?? {};
    if (reply.error) notify(`${action}: ${reply.error.message} (${reply.error.code})`);
    else if (reply.outcome) notify(`${action}: ${reply.outcome}`, 'info');
    else notify(`${action}: done; the flow is ${result.flow.state}`, 'info');
  } catch (error) {
    if (error.status !== 401) notify(`${action}: ${error.message}`);
  }
}

function actionFields(action, codeInput, numberInput) {
  if (action === 'enter-code') return codeInput.value.trim() ? { code: codeInput.value.trim() } : {};
  if (action === 'change-number') return { phoneNumber: numberInput.value.trim() };
  return {};
}

$('phone-actions').addEventListener('click', (event) => {
  const action = event.target.closest('button')?.dataset.action;
  if (!action || !state.phoneTarget) return;
  act(`/phones/${encodeURIComponent(state.phoneTarget)}/customer`, action,
      actionFields(action, $('phone-code'), $('phone-new-number')));
});

$('flow-actions').addEventListener('click', (event) => {
  const action = event.target.closest('button')?.dataset.action;
  if (!action || !state.arg) return;
  act(`/flows/${encodeURIComponent(state.arg)}/customer`, action,
      actionFields(action, $('flow-code'), $('flow-new-number')));
});

// -- Phone ------------------------------------------------------------------------------------------------

function renderPhone() {
  if (state.sms === null || state.flows === null) return;
  if (!changedSince('phone', [state.sms, state.flows, state.arg])) return;
  // Numbers by their latest SMS, newest first, then numbers whose open flow has sent nothing yet.
  const latest = new Map();
  for (const sms of state.sms) latest.set(sms.phoneNumber, sms.id);
  const numbers = [...latest.keys()].sort((a, b) => latest.get(b) - latest.get(a));
  for (const flow of [...state.flows].reverse()) {
    if (isOpen(flow) && !latest.has(flow.phoneNumber) && !numbers.includes(flow.phoneNumber)) numbers.push(flow.phoneNumber);
  }
  const selected = state.arg || numbers[0] || ''; // the newest number, unless one was picked
  $('phone-empty').hidden = numbers.length > 0;
  $('phone-numbers').replaceChildren(...numbers.map((number) => h('li', null,
    h('a', { href: `#phone/${encodeURIComponent(number)}`, class: number === selected ? 'selected' : null,
             dataset: { phone: number } },
      number, h('span', { class: 'count' }, String(state.sms.filter((sms) => sms.phoneNumber === number).length))))));

  const messages = state.sms.filter((sms) => sms.phoneNumber === selected).reverse();
  const flows = new Map(state.flows.map((flow) => [flow.correlationId, flow]));
  const target = [...state.flows].reverse().find((flow) => flow.phoneNumber === selected && isOpen(flow));
  state.phoneTarget = target ? selected : null;
  $('phone-title').textContent = selected || 'The phone';
  $('phone-actions').hidden = !target;
  $('phone-flow').textContent = target
    ? `The buttons act on flow ${shortId(target.correlationId)} (${describeFlow(target)}, persona ${target.persona}).`
    : selected ? 'No flow waits for this number\'s customer.' : '';
  const newestOfFlow = new Set();
  $('phone-messages').replaceChildren(...messages.map((sms) => {
    const flow = flows.get(sms.correlationId);
    const replaced = newestOfFlow.has(sms.correlationId);
    newestOfFlow.add(sms.correlationId);
    const status = !flow ? 'flow ended' : replaced ? 'replaced by a newer SMS'
      : flow.possession ? `possession ${flow.possession.status}` : '';
    return h('li', { class: `sms kind-${sms.kind}`, dataset: { id: sms.id, kind: sms.kind, correlationId: sms.correlationId,
                                                           phone: sms.phoneNumber } },
      h('div', { class: 'meta' },
        h('span', { class: 'kind' }, sms.kind === 'otp' ? 'Code' : 'Instant Link'),
        h('time', { datetime: sms.sentAt, title: sms.sentAt }, clockTime(sms.sentAt)),
        h('span', null, `${sms.project} · flow ${shortId(sms.correlationId)}`),
        status && h('span', { class: 'status' }, status)),
      h('p', { class: 'body' }, sms.body),
      sms.otp && h('div', { class: 'code' }, h('output', { class: 'otp', 'aria-label': 'The code' }, sms.otp),
                   copyButton(sms.otp)),
      // The customer's tap: the phone's browser opens the link (possession is decided, then it lands on
      // finalTargetUrl), as GET /__emulator/link/{id} does for any client.
      sms.link && h('a', { class: 'tap', href: sms.link, target: '_blank', rel: 'noopener' }, 'Tap the link'));
  }));
}

// -- Flows ------------------------------------------------------------------------------------------------

function renderFlows() {
  if (state.flows === null) return;
  if (!changedSince('flows', [state.flows, state.flow, state.arg])) return;
  const projects = new Map();
  for (const flow of [...state.flows].reverse().slice(0, MAX_LISTED)) {
    if (!projects.has(flow.project)) projects.set(flow.project, []);
    projects.get(flow.project).push(flow);
  }
  $('flows-empty').hidden = state.flows.length > 0;
  showMore('flows-more', state.flows.length, 'older flows');
  $('flow-list').replaceChildren(...[...projects].map(([project, flows]) => h('div', { class: 'project' },
    h('h3', null, project),
    h('ul', { class: 'picker' }, flows.map((flow) => h('li', null,
      h('a', { href: `#flows/${encodeURIComponent(flow.correlationId)}`, dataset: { correlationId: flow.correlationId },
               class: flow.correlationId === state.arg ? 'selected' : null },
        h('strong', null, flow.phoneNumber || '(no number)'), ' ', h('span', null, describeFlow(flow)),
        h('small', null, `${shortId(flow.correlationId)} · ${flow.persona} · expires ${clockTime(flow.expiresAt)}`))))))));

  const flow = state.flow;
  const live = flow && !flow.gone ? flow : null;
  $('flow-title').textContent = live ? `${live.product} · ${live.phoneNumber}`
    : flow?.gone ? 'This flow is gone (expired or reset)' : state.arg ? 'Loading…' : 'Pick a flow';
  $('flow-actions').hidden = !live?.possession;
  if (live?.possession) {
    const decided = !isOpen(live);
    for (const button of $('flow-actions').querySelectorAll('button')) {
      const action = button.dataset.action;
      button.disabled = decided || (action === 'enter-code' && live.possession.method !== 'otp')
        || (action === 'click' && live.possession.method !== 'instant-link');
    }
  }
  const facts = live ? [
    ['correlationId', live.correlationId], ['authId', live.authId], ['project', live.project],
    ['persona', live.persona], ['state', live.state],
    ['possession', live.possession ? `${live.possession.method}: ${live.possession.status}`
      + (live.possession.reason ? ` (${live.possession.reason})` : '') : 'none'],
    ['created', live.createdAt], ['expires', live.expiresAt],
  ] : [];
  $('flow-summary').replaceChildren(...facts.flatMap(([name, value]) => [h('dt', null, name), h('dd', null, value)]));
  const timeline = $('flow-timeline');
  timeline.hidden = !live;
  timeline.tBodies[0].replaceChildren(...(live?.timeline ?? []).map(({ at, event, ...details }) => h('tr',
    { dataset: { event } },
    h('td', null, h('time', { datetime: at, title: at }, clockTime(at))), h('td', null, event),
    h('td', null, Object.entries(details).map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(' ')))));
}

// -- Test numbers -----------------------------------------------------------------------------------------

function renderNumbers() {
  if (state.personas === null) return;
  const filter = $('numbers-filter').value.trim().toLowerCase();
  if (!changedSince('numbers', [state.personas, filter])) return;
  const rows = state.personas.filter((persona) => !filter || JSON.stringify(persona).toLowerCase().includes(filter));
  $('numbers').tBodies[0].replaceChildren(...rows.map((persona) => {
    const number = persona.phoneNumber ?? persona.pattern;
    return h('tr', { dataset: { persona: persona.id } },
      h('td', { class: 'number' }, h('code', null, number), ' ', persona.phoneNumber ? copyButton(number) : null),
      h('td', null, persona.name ?? ''),
      h('td', null, `possession ${persona.possession} · data ${persona.dataCheck}`),
      h('td', null, persona.otp ?? ''),
      h('td', null, persona.description ?? '', persona.products ? h('small', null, persona.products.join(', ')) : null),
      h('td', null, `${persona.set} (${persona.source ?? ''})`));
  }));
}

$('numbers-filter').addEventListener('input', renderNumbers);

// -- Webhooks ---------------------------------------------------------------------------------------------

$('trigger-type').replaceChildren(...EVENT_TYPES.map((type) => h('option', { value: type }, type)));

$('trigger-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const identity = $('trigger-identity').value.trim();
  try {
    const delivery = await api(`/identities/${encodeURIComponent(identity)}/events`,
                               { method: 'POST', body: { eventType: $('trigger-type').value } });
    notify(`Event ${delivery.eventTypes.join(', ')}: delivery ${delivery.id} ${delivery.status}`
           + (delivery.reason ? ` (${delivery.reason})` : ''), 'info');
  } catch (error) {
    if (error.status !== 401) notify(`Trigger: ${error.message}`);
  }
});

async function resend(id) {
  try {
    const delivery = await api(`/webhooks/deliveries/${encodeURIComponent(id)}/resend`, { method: 'POST' });
    notify(`Resent as ${delivery.id} (${delivery.status})`, 'info');
  } catch (error) {
    if (error.status !== 401) notify(`Resend: ${error.message}`);
  }
}

function renderWebhooks() {
  if (state.deliveries === null) return;
  if (!changedSince('webhooks', state.deliveries)) return;
  const deliveries = [...state.deliveries].reverse().slice(0, MAX_LISTED);
  $('deliveries-empty').hidden = deliveries.length > 0;
  showMore('deliveries-more', state.deliveries.length, 'older deliveries');
  const identities = new Set(deliveries.map((delivery) => delivery.identityId).filter(Boolean));
  $('known-identities').replaceChildren(...[...identities].map((id) => h('option', { value: id })));
  $('deliveries').replaceChildren(...deliveries.map((delivery) => h('li', { class: 'delivery', dataset: { id: delivery.id,
                                                                                                   status: delivery.status } },
    h('div', { class: 'meta' },
      h('strong', null, delivery.id), h('span', { class: `badge ${delivery.status}` }, delivery.status),
      h('span', null, delivery.eventTypes.join(', ')), h('span', null, delivery.project),
      delivery.test && h('span', null, 'test'),
      delivery.resentFrom && h('span', null, `resent from ${delivery.resentFrom}`),
      h('time', { datetime: delivery.createdAt, title: delivery.createdAt }, clockTime(delivery.createdAt)),
      h('button', { type: 'button', class: 'resend', onclick: () => resend(delivery.id) }, 'Resend')),
    h('p', { class: 'hint' }, [delivery.url && `To ${delivery.url}`, delivery.identityId && `identity ${delivery.identityId}`,
                               delivery.reason, delivery.nextAttemptAt && `next attempt at ${delivery.nextAttemptAt}`]
      .filter(Boolean).join(' · ')),
    delivery.attempts.length > 0 && h('table', { class: 'grid attempts' },
      h('thead', null, h('tr', null, ['#', 'At', 'Status', 'Latency', 'URL', 'Signature'].map((name) => h('th', null, name)))),
      h('tbody', null, delivery.attempts.map((attempt) => h('tr', { class: attempt.outcome },
        h('td', null, String(attempt.number)),
        h('td', null, h('time', { datetime: attempt.at, title: attempt.at }, clockTime(attempt.at))),
        h('td', null, attempt.status ? String(attempt.status) : '', attempt.error ? ` ${attempt.error}` : ''),
        h('td', null, `${attempt.latencyMs} ms`),
        h('td', { class: 'url' }, attempt.url),
        h('td', { class: 'signature' }, attempt.signature
          ? [h('code', { title: attempt.signature }, `${attempt.signature.slice(0, 16)}…`), ' ', copyButton(attempt.signature)]
          : ''))))),
    h('details', null, h('summary', null, 'Payload'), h('pre', null, JSON.stringify(delivery.payload, null, 2))))));
}

// -- Clock ------------------------------------------------------------------------------------------------

async function moveClock(change) {
  try {
    state.clock = await api('/clock', { method: 'POST', body: change });
    state.clockRead = performance.now();
    render();
  } catch (error) {
    if (error.status !== 401) notify(`Clock: ${error.message}`);
  }
}

$('clock-freeze').addEventListener('click', () => moveClock({ freeze: true }));
$('clock-unfreeze').addEventListener('click', () => moveClock({ freeze: false }));
$('clock-presets').addEventListener('click', (event) => {
  const seconds = event.target.closest('button')?.dataset.seconds;
  if (seconds) moveClock({ advance: Number(seconds) });
});
$('clock-set').addEventListener('submit', (event) => {
  event.preventDefault();
  moveClock({ set: $('clock-set-input').value.trim() });
});

function shownNow() {
  const now = Date.parse(state.clock.now);
  return new Date(state.clock.frozen ? now : now + performance.now() - state.clockRead).toISOString();
}

function renderClock() {
  if (state.clock === null) return;
  $('clock-now').textContent = shownNow();
  if (!changedSince('clock', state.clock)) return;
  $('clock-state').textContent = `${state.clock.frozen ? 'Frozen' : 'Running'} · ${state.clock.pendingTimers} timer(s) pending`;
  $('page-clock').dataset.frozen = String(state.clock.frozen);
  $('clock-freeze').disabled = state.clock.frozen;
  $('clock-unfreeze').disabled = !state.clock.frozen;
}

// An unfrozen clock runs on screen without asking the server: only moves are events.
setInterval(() => {
  if (state.page === 'clock' && state.clock && !state.clock.frozen) $('clock-now').textContent = shownNow();
}, 1000);

// -- start --------------------------------------------------------------------------------------------------

show();
connect();
