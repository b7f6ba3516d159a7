/**
 * The operator dashboard's page, stylesheet and script, served as they are from this module: nothing to build,
 * and `npm run build` compiles it into dist/ with the rest. The page is a static shell holding no data; the
 * script asks for the admin token and reads /dashboard/events (server-sent events over fetch, since EventSource
 * cannot send an Authorization header) with it. Every value from the server reaches the page as text
 * (textContent), never as markup.
 *
 * The script is the function `dashboardClient` below, sent as its own source text: it is type-checked and
 * linted with the rest of the tree, and so must use nothing from outside its body but the browser's globals.
 */
import type { DashboardState } from './dashboard-state.ts';

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Keyward control plane</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<header>
  <h1>Keyward</h1>
  <span id="connection" class="connection">signed out</span>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>
<form id="sign-in" autocomplete="off">
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
  <button type="submit">Open dashboard</button>
  <p class="hint">The token stays in this tab (sessionStorage) and is sent only as an Authorization header.</p>
</form>
<p id="error" class="error" role="alert" hidden></p>
<main id="board" hidden>
  <section>
    <h2>Keys</h2>
    <p id="keyset" class="meta"></p>
    <table>
      <thead><tr><th>kid</th><th>status</th><th>alg</th><th>version</th><th>created</th><th>expires</th></tr></thead>
      <tbody id="keys"></tbody>
    </table>
  </section>
  <section>
    <h2>Next rotation</h2>
    <p id="schedule"></p>
    <ul id="blockers"></ul>
  </section>
  <section>
    <h2>Edges</h2>
    <table>
      <thead><tr><th>edge</th><th>confirmed</th><th>lag</th><th>last contact</th><th>clock offset</th><th>last error</th></tr></thead>
      <tbody id="edges"></tbody>
    </table>
  </section>
  <section>
    <h2>Timeline</h2>
    <ol id="timeline"></ol>
  </section>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `:root { color-scheme: light dark; --muted: #6b7280; --line: #d1d5db; --ok: #15803d; --warn: #b45309;
  --bad: #b91c1c; --info: #1d4ed8; font: 14px/1.45 system-ui, sans-serif; }
[hidden] { display: none !important; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem; }
header { display: flex; align-items: baseline; gap: 1rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.25rem; margin: 0.5rem 0; }
h2 { font-size: 1rem; margin: 1.5rem 0 0.5rem; }
.connection { color: var(--muted); flex: 1; }
.connection.live { color: var(--ok); }
form { display: grid; gap: 0.5rem; max-width: 28rem; margin-top: 2rem; }
input, button { font: inherit; padding: 0.35rem 0.6rem; }
.hint, .meta { color: var(--muted); }
.error { color: var(--bad); font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.6rem 0.3rem 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
code, .kid { font-family: ui-monospace, monospace; font-size: 0.9em; overflow-wrap: anywhere; }
.status { font-weight: 600; }
.status-active { color: var(--ok); }
.status-standby { color: var(--info); }
.status-previous { color: var(--muted); }
.behind, .failing, .blocked { color: var(--bad); font-weight: 600; }
.waiting { color: var(--warn); }
ol#timeline { padding-left: 0; list-style: none; }
ol#timeline li { padding: 0.2rem 0; border-bottom: 1px solid var(--line); }
ol#timeline time { color: var(--muted); margin-right: 0.6rem; }
`;

/** The dashboard's script: runs in the browser, on the page above. */
export function dashboardClient(): void {
  const TOKEN_KEY = 'keyward-admin-token';
  const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const form = byId<HTMLFormElement>('sign-in');
  const tokenInput = byId<HTMLInputElement>('token');
  const board = byId<HTMLElement>('board');
  const errorLine = byId<HTMLElement>('error');
  const connection = byId<HTMLElement>('connection');
  const signOutButton = byId<HTMLButtonElement>('sign-out');
  let stream: AbortController | null = null;
  let latest: { state: DashboardState; skewMs: number } | null = null;

  function element(tag: string, text?: string | null, className?: string): HTMLElement {
    const node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function row(...cells: HTMLElement[]): HTMLTableRowElement {
    const tr = document.createElement('tr');
    for (const cell of cells) {
      const td = document.createElement('td');
      td.append(cell);
      tr.append(td);
    }
    return tr;
  }

  function showError(message: string | null): void {
    errorLine.textContent = message ?? '';
    errorLine.hidden = message === null;
  }

  function setConnection(text: string, live: boolean): void {
    connection.textContent = text;
    connection.classList.toggle('live', live);
  }

  /** "3 min ago" / "in 2 h" from the server's clock, so that this machine's clock does not matter. */
  function relative(iso: string | null, skewMs: number): string {
    if (iso === null) return 'never';
    const ms = Date.parse(iso) - (Date.now() + skewMs);
    const abs = Math.abs(ms);
    if (abs < 1_000) return 'now';
    const units: Array<[number, string]> = [
      [86_400_000, 'd'],
      [3_600_000, 'h'],
      [60_000, 'min'],
      [1_000, 's'],
    ];
    const [size, unit] = units.find(([size]) => abs >= size) ?? [1_000, 's'];
    const amount = `${Math.floor(abs / size)} ${unit}`;
    return ms < 0 ? `${amount} ago` : `in ${amount}`;
  }

  function when(iso: string | null, skewMs: number): HTMLElement {
    const node = element('time', iso === null ? '—' : relative(iso, skewMs));
    if (iso !== null) {
      node.setAttribute('datetime', iso);
      node.title = iso;
    }
    return node;
  }

  function milliseconds(ms: number): string {
    return Math.abs(ms) < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(1)} s`;
  }

  const ACTIONS: Record<string, string> = {
    rotate: 'rotated to',
    rotate_emergency: 'emergency rotation to',
    rotate_scheduled: 'scheduled rotation to',
    stage: 'staged',
    promote: 'promoted',
    promote_emergency: 'emergency promotion of',
    revoke: 'revoked',
  };

  function render(state: DashboardState, skewMs: number): void {
    byId('keyset').textContent =
      `keyset version ${state.keyset_version}, issued ${relative(state.issued_at, skewMs)}; storage ${state.storage}` +
      (state.stale ? ' — STORAGE UNREACHABLE: this may be out of date' : '');

    byId('keys').replaceChildren(
      ...state.keys.map((key) => {
        const tr = row(
          element('span', key.kid, 'kid'),
          element('span', key.status, `status status-${key.status}`),
          element('span', key.alg),
          element('span', String(key.version)),
          when(key.created_at, skewMs),
          when(key.expires_at, skewMs),
        );
        tr.dataset.kid = key.kid;
        tr.dataset.status = key.status;
        return tr;
      }),
    );

    const rotation = state.rotation;
    const schedule = byId('schedule');
    const blockers = byId('blockers');
    const waiting = rotation.unconfirmed_urls.map((url) =>
      element('li', `not yet confirmed by ${url}`, 'waiting'),
    );
    schedule.className = rotation.phase === 'blocked' ? 'blocked' : '';
    if (rotation.phase === 'off') {
      schedule.textContent =
        'Scheduled rotation is off (ROTATION_INTERVAL=off); keys change only when an operator rotates.';
    } else if (rotation.phase === 'idle') {
      schedule.textContent = rotation.stage_at
        ? `Next key staged ${relative(rotation.stage_at, skewMs)} (${rotation.stage_at}), active ${relative(rotation.due_at, skewMs)} (${rotation.due_at}).`
        : `Next rotation ${relative(rotation.due_at, skewMs)} (${rotation.due_at}).`;
    } else if (rotation.phase === 'staged') {
      schedule.textContent = `Standby ${rotation.standby_kid} becomes active ${relative(rotation.due_at, skewMs)} (${rotation.due_at}) once every edge has confirmed it.`;
    } else {
      schedule.textContent = `BLOCKED since ${rotation.blocked_since}: standby ${rotation.standby_kid} was due ${relative(rotation.due_at, skewMs)}; the active key keeps signing until every edge confirms the standby key.`;
    }
    blockers.replaceChildren(...waiting);

    byId('edges').replaceChildren(
      ...(state.edges.length === 0
        ? [row(element('span', 'No EDGE_URLS configured: edges pull the keyset themselves.', 'meta'))]
        : state.edges.map((edge) => {
            const offset =
              edge.clock_offset_ms === null
                ? '—'
                : `${edge.clock_offset_ms > 0 ? '+' : ''}${milliseconds(edge.clock_offset_ms)}` +
                  (edge.rtt_ms === null ? '' : ` ±${Math.ceil(edge.rtt_ms / 2) + 1} ms`);
            const tr = row(
              element('code', edge.url),
              element('span', edge.confirmed_version === 0 ? 'none' : `v${edge.confirmed_version}`),
              element(
                'span',
                edge.versions_behind === 0 ? 'up to date' : `${edge.versions_behind} behind`,
                edge.versions_behind === 0 ? '' : 'behind',
              ),
              when(edge.last_success_at, skewMs),
              element('span', offset),
              element('span', edge.last_error ?? '', edge.last_error ? 'failing' : ''),
            );
            tr.dataset.url = edge.url;
            tr.dataset.confirmedVersion = String(edge.confirmed_version);
            return tr;
          })),
    );

    byId('timeline').replaceChildren(
      ...(state.audit === null
        ? [element('li', 'The audit log could not be read.', 'meta')]
        : state.audit.length === 0
          ? [element('li', 'No admin actions recorded yet.', 'meta')]
          : [...state.audit].reverse().map((entry) => {
              const li = element('li');
              li.append(
                when(entry.at, skewMs),
                `${ACTIONS[entry.action] ?? entry.action} `,
                element('span', entry.kid, 'kid'),
                ` (keyset v${entry.version}) by ${entry.actor}`,
              );
              li.dataset.action = entry.action;
              return li;
            })),
    );
  }

  function clearBoard(): void {
    latest = null;
    board.hidden = true;
    for (const id of ['keys', 'edges', 'timeline', 'blockers']) byId(id).replaceChildren();
    for (const id of ['keyset', 'schedule']) byId(id).textContent = '';
  }

  function signOut(message: string | null): void {
    stream?.abort();
    stream = null;
    sessionStorage.removeItem(TOKEN_KEY);
    clearBoard();
    form.hidden = false;
    signOutButton.hidden = true;
    setConnection('signed out', false);
    showError(message);
  }

  /** One server-sent event from the text between two blank lines. */
  function parseEvent(block: string): { event: string; data: string } {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    return { event, data: data.join('\n') };
  }

  async function follow(token: string, retryMs: number): Promise<void> {
    const controller = new AbortController();
    stream = controller;
    let nextRetryMs = Math.min(retryMs * 2, 15_000);
    try {
      const response = await fetch(new URL('events', document.baseURI), {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        cache: 'no-store',
        signal: controller.signal,
      });
      if (response.status === 401) return signOut('Wrong admin token: nothing is shown.');
      if (response.status === 429) {
        const body = (await response.json().catch(() => ({}))) as { error?: string };
        return signOut(body.error ?? 'Too many failed admin token attempts; retry later.');
      }
      if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const { event, data } = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          if (event === 'denied') return signOut('The admin token is no longer accepted.');
          if (event !== 'state') continue;
          const state = JSON.parse(data) as DashboardState;
          latest = { state, skewMs: Date.parse(state.now) - Date.now() };
          render(state, latest.skewMs);
          board.hidden = false;
          showError(null);
          setConnection(`live — updated ${new Date().toLocaleTimeString()}`, true);
          nextRetryMs = 1_000;
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      showError(`Connection lost (${(error as Error).message}); reconnecting.`);
    }
    if (stream !== controller) return;
    setConnection('reconnecting…', false);
    setTimeout(() => {
      if (stream === controller) void follow(token, nextRetryMs);
    }, retryMs);
  }

  function open(token: string): void {
    form.hidden = true;
    signOutButton.hidden = false;
    setConnection('connecting…', false);
    void follow(token, 1_000);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = tokenInput.value;
    tokenInput.value = '';
    if (token === '') return;
    sessionStorage.setItem(TOKEN_KEY, token);
    showError(null);
    open(token);
  });
  signOutButton.addEventListener('click', () => signOut(null));
  // Ages move with time between snapshots.
  setInterval(() => {
    if (latest !== null) render(latest.state, latest.skewMs);
  }, 1_000);

  if (!window.isSecureContext) {
    // Plain HTTP to another machine: the token would cross the network in clear.
    form.hidden = true;
    showError(
      'This page is not a secure context (plain HTTP to a remote address), so it will not send the admin token. ' +
        'Open it over HTTPS, or through an SSH tunnel to 127.0.0.1.',
    );
    return;
  }
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) open(saved);
}

/** The script as served: the function above, called once the page has loaded (the tag has `defer`). */
export const DASHBOARD_JS = `'use strict';\n(${dashboardClient.toString()})();\n`;
