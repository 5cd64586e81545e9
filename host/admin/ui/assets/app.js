// The nebula-host admin web UI. It reads the admin API of the host that
// serves it (same origin, relative paths), every POLL_MS, and draws the
// overview (#/) or one resource (#/resource/ID). It never writes to the
// host. Everything it shows goes into the page as text, never as HTML.
"use strict";

(() => {
  const POLL_MS = 2000;
  const TIMEOUT_MS = 5000;
  // SERIES_MS is how far back the page keeps its own samples of each pool.
  const SERIES_MS = 5 * 60 * 1000;
  const TOKEN_KEY = "nebula.token";
  const PAGE = "limit=1000";

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    list: null, // api.ResourceList, every page merged
    health: null, // api.HealthPage, every page merged
    healthByID: new Map(),
    plugins: null, // []api.Plugin, or null when refused
    pluginsDenied: "", // why GET /v1/plugins was refused; not asked again
    detail: null, // api.Resource of the resource page, or {missing}
    lastOK: null, // Date of the last full answer
    failing: null, // {since: Date, why: string} while the host fails
    series: new Map(), // resource id -> [{t, inUse, idle, waiting, max}]
    timer: 0,
    generation: 0, // bumps on every new poll, so that a late one is dropped
  };

  const $ = (id) => document.getElementById(id);

  // ---- the API ----

  class APIError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || "HTTP " + status);
      this.status = status;
      this.code = e.code || "";
      this.kind = e.kind || "";
    }
  }

  // get fetches a path of the API (relative to the host's root) as JSON.
  async function get(path) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    let resp;
    try {
      resp = await fetch(new URL("../" + path, location.href), { headers, signal: ctl.signal, cache: "no-store" });
    } catch (err) {
      throw new Error(err.name === "AbortError" ? "no answer within " + TIMEOUT_MS / 1000 + " s" : "the connection failed");
    } finally {
      clearTimeout(t);
    }
    let body = null;
    try {
      body = await resp.json();
    } catch (err) {
      if (resp.ok) throw new Error("the answer to " + path + " is not JSON");
    }
    if (!resp.ok) throw new APIError(resp.status, body);
    return body;
  }

  // listAll reads every page of a listing, merging items (and types).
  async function listAll(path, key) {
    let out = null;
    let after = "";
    do {
      const page = await get(path + "?" + PAGE + (after ? "&after=" + encodeURIComponent(after) : ""));
      if (!out) {
        out = page;
      } else {
        out[key].push(...page[key]);
        if (page.types) Object.assign(out.types, page.types);
      }
      after = page.next || "";
    } while (after);
    return out;
  }

  // ---- polling ----

  async function poll() {
    clearTimeout(state.timer);
    const gen = ++state.generation;
    const view = route();
    try {
      const [list, health] = await Promise.all([listAll("v1/resources", "resources"), listAll("v1/health", "resources")]);
      let plugins = null;
      if (!state.pluginsDenied) {
        try {
          plugins = await get("v1/plugins");
        } catch (err) {
          if (err.status !== 403) throw err;
          state.pluginsDenied = err.message;
        }
      }
      let detail = null;
      if (view.name === "resource") {
        try {
          detail = await get("v1/resources/" + encodeURIComponent(view.id));
        } catch (err) {
          if (err.status !== 404 && err.status !== 403) throw err;
          detail = { missing: err.message, id: view.id };
        }
      }
      if (gen !== state.generation) return;
      state.list = list;
      state.health = health;
      state.healthByID = new Map(health.resources.map((r) => [r.id, r]));
      state.plugins = plugins;
      state.detail = detail;
      state.lastOK = new Date();
      state.failing = null;
      sample(list);
      document.body.dataset.state = "ready";
      render();
    } catch (err) {
      if (gen !== state.generation) return;
      if (err.status === 401 || (err.status === 403 && err.code === "permission_denied")) {
        // No identity, or one that may not read: ask for a token.
        const refused = state.token !== "" || err.status === 403;
        signOut();
        showLogin(refused ? (err.status === 403 ? "This token's identity may not read resources: " : "The token was refused: ") + err.message : "");
        return;
      }
      if (!state.failing) state.failing = { since: new Date() };
      state.failing.why = err.status ? "it answered " + err.status + ": " + err.message : err.message;
      renderStatus();
    }
    state.timer = setTimeout(poll, POLL_MS);
  }

  // sample records the pools' occupancy for the sparklines.
  function sample(list) {
    const now = Date.now();
    for (const r of list.resources) {
      let s = state.series.get(r.id);
      if (!s) state.series.set(r.id, (s = []));
      s.push({ t: now, inUse: r.pool.in_use, idle: r.pool.idle, waiting: r.pool.waiting, max: r.pool.max_size });
      while (s.length && s[0].t < now - SERIES_MS) s.shift();
    }
  }

  function route() {
    const m = /^#\/resource\/(.+)$/.exec(location.hash);
    if (m) {
      try {
        return { name: "resource", id: decodeURIComponent(m[1]) };
      } catch (err) {
        return { name: "overview" };
      }
    }
    return { name: "overview" };
  }

  // ---- sign in ----

  function showLogin(message) {
    clearTimeout(state.timer);
    state.generation++;
    document.body.dataset.state = "login";
    document.body.classList.remove("live", "stale");
    for (const id of ["overview", "resource", "banner", "overall"]) $(id).hidden = true;
    $("login").hidden = false;
    $("updated").textContent = "signed out";
    const e = $("login-error");
    e.textContent = message;
    e.hidden = !message;
    $("token").focus();
  }

  function signOut() {
    state.token = "";
    state.pluginsDenied = "";
    state.list = state.health = state.plugins = state.detail = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("signout").hidden = true;
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    $("login").hidden = true;
    $("signout").hidden = false;
    document.body.dataset.state = "loading";
    poll();
  });

  $("signout").addEventListener("click", () => {
    signOut();
    showLogin("");
  });

  window.addEventListener("hashchange", () => {
    state.detail = null;
    if (document.body.dataset.state === "ready") render();
    if (document.body.dataset.state !== "login") poll();
  });

  // ---- building the page ----

  // el makes an element: attrs are properties (class, title, href) or
  // data-* attributes; children are nodes or text.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k === "colspan") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }

  const dash = () => el("span", { class: "dash" }, "—");

  // The badge colour of each state.
  const tone = {
    ready: "ok", pending: "off", unavailable: "warn", failed: "bad", blocked: "bad", closed: "off",
    healthy: "ok", starting: "info", degraded: "warn", recovering: "warn", unhealthy: "bad",
    running: "ok", restarting: "warn", crash_loop: "bad", stopped: "off",
  };
  const breakerTone = { closed: "ok", half_open: "warn", open: "bad" };

  function badge(text, cls, title) {
    return el("span", { class: "badge " + (cls || "off"), title }, String(text).replace("_", " "));
  }
  const stateBadge = (s, title) => (s ? badge(s, tone[s], title) : dash());
  const breakerBadge = (b) => (b ? badge(b, breakerTone[b]) : el("span", { class: "dash", title: "no circuit breaker" }, "—"));
  const quarantineBadge = (h) => (h && h.quarantined ? badge("quarantined", "bad", h.reason) : el("span", { class: "dash" }, "no"));

  // occupancy draws in use and idle over max as a bar, with the numbers.
  function occupancy(inUse, idle, max) {
    const w = 110;
    const scale = Math.max(max, inUse + idle, 1);
    const bar = svg("svg", { width: w, height: 10, viewBox: `0 0 ${w} 10`, role: "img", "aria-label": `${inUse} in use, ${idle} idle, max ${max}` });
    bar.append(svg("rect", { class: "bar-track", x: 0, y: 0, width: w, height: 10, rx: 3 }));
    const iw = (inUse / scale) * w;
    bar.append(svg("rect", { class: "bar-idle", x: iw, y: 0, width: (idle / scale) * w, height: 10 }));
    bar.append(svg("rect", { class: "bar-in-use", x: 0, y: 0, width: iw, height: 10 }));
    return el("div", { class: "occ" }, bar, el("span", { class: "occ-text" }, el("b", {}, inUse), ` / ${idle} / ${max || "∞"}`));
  }

  // ---- formatting ----

  function duration(ns) {
    if (!ns) return "0";
    const ms = ns / 1e6;
    if (ms < 1) return Math.round(ns / 1e3) + " µs";
    if (ms < 1000) return (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)) + " ms";
    const s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${Math.floor(s % 60)}s`;
    return `${Math.floor(m / 60)}h ${m % 60}m`;
  }

  function ago(d) {
    const s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  const clock = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

  // when shows a timestamp of the API as a local time and how long ago;
  // the zero time (before 2000) as a dash.
  function when(iso) {
    const d = iso ? new Date(iso) : null;
    if (!d || isNaN(d) || d.getFullYear() < 2000) return dash();
    return el("span", { title: d.toISOString() }, clock(d), el("span", { class: "muted" }, " · " + ago(d)));
  }

  const pct = (f) => Math.round(f * 100) + " %";
  const setting = (v) => (v === "0s" || v === "" ? "none" : v);

  // ---- rendering ----

  function render() {
    renderStatus();
    const view = route();
    $("login").hidden = true;
    $("overview").hidden = view.name !== "overview";
    $("resource").hidden = view.name !== "resource";
    $("nav-overview").classList.toggle("active", view.name === "overview");
    if (!state.list) return;
    if (view.name === "overview") {
      document.title = "nebula-host · overview";
      renderOverview();
    } else {
      document.title = "nebula-host · " + view.id;
      renderResource(view.id);
    }
  }

  // renderStatus updates what says whether the host answers.
  function renderStatus() {
    const body = document.body;
    const down = state.failing !== null;
    body.classList.toggle("stale", down);
    body.classList.toggle("live", !down && state.lastOK !== null);
    body.dataset.host = down ? "down" : "up";
    const upd = $("updated");
    if (state.lastOK) {
      upd.textContent = (down ? "Last answer " : "Updated ") + clock(state.lastOK) + (down ? " (" + ago(state.lastOK) + ")" : "");
      upd.title = state.lastOK.toISOString();
    }
    const banner = $("banner");
    banner.hidden = !down;
    if (down) {
      banner.textContent = `The host is not answering since ${clock(state.failing.since)}: ${state.failing.why}. ` +
        (state.lastOK ? `The page shows what it said at ${clock(state.lastOK)}; ` : "") + `retrying every ${POLL_MS / 1000} s.`;
    }
    const overall = $("overall");
    if (state.health) {
      overall.hidden = false;
      overall.className = "badge " + (tone[state.health.status] || "off");
      overall.textContent = "host " + state.health.status;
      overall.title = "The worst health of the resources";
    }
  }

  function renderOverview() {
    const list = state.list;
    const health = state.healthByID;
    const rs = list.resources;
    let ready = 0;
    let quarantined = 0;
    let openBreakers = 0;
    let leases = 0;
    for (const r of rs) {
      const h = health.get(r.id);
      if (r.state === "ready") ready++;
      if (h && h.quarantined) quarantined++;
      if (h && (h.breaker === "open" || h.breaker === "half_open")) openBreakers++;
      leases += r.pool.leases;
    }
    const card = (value, label, cls) => el("div", { class: "card " + (cls || "") }, el("div", { class: "value" }, value), el("div", { class: "label" }, label));
    $("summary").replaceChildren(
      card(list.total, list.total === 1 ? "resource" : "resources"),
      card(ready + " / " + rs.length, "ready", ready < rs.length ? "warn" : ""),
      card(quarantined, "quarantined", quarantined ? "bad" : ""),
      card(openBreakers, "breakers open", openBreakers ? "bad" : ""),
      card(leases, leases === 1 ? "lease out" : "leases out"),
    );

    const rows = rs.map((r) => {
      const h = health.get(r.id);
      const type = list.types[r.type] || {};
      return el("tr", { "data-resource": r.id, class: h && h.quarantined ? "quarantined" : "" },
        el("td", { "data-field": "id" }, el("a", { class: "mono", href: "#/resource/" + encodeURIComponent(r.id) }, r.id)),
        el("td", { "data-field": "type" }, r.type),
        el("td", { "data-field": "plugin" }, type.plugin || dash()),
        el("td", { "data-field": "state" }, stateBadge(r.state, r.error)),
        el("td", { "data-field": "health" }, stateBadge(r.health, h && h.reason)),
        el("td", { "data-field": "quarantine" }, quarantineBadge(h)),
        el("td", { "data-field": "breaker" }, breakerBadge(h && h.breaker)),
        el("td", { "data-field": "pool" }, occupancy(r.pool.in_use, r.pool.idle, r.pool.max_size)),
        el("td", { "data-field": "leases", class: "num" }, r.pool.leases),
      );
    });
    if (!rows.length) rows.push(el("tr", {}, el("td", { class: "empty", colspan: 9 }, "This host has no resource you may see.")));
    $("resources").tBodies[0].replaceChildren(...rows);

    const note = $("plugins-note");
    note.hidden = !state.pluginsDenied;
    $("plugins-wrap").hidden = !!state.pluginsDenied;
    if (state.pluginsDenied) {
      note.textContent = "Needs admin: the plugins are listed only to an identity allowed admin, without a tenant. The host said: " + state.pluginsDenied;
      return;
    }
    const prows = (state.plugins || []).map((p) =>
      el("tr", { "data-plugin": p.name },
        el("td", {}, el("b", {}, p.name), p.driver && p.driver !== p.name ? el("span", { class: "muted" }, " (" + p.driver + ")") : null),
        el("td", { class: "mono" }, p.version || dash(), el("span", { class: "muted" }, " · protocol " + p.protocol)),
        el("td", {}, stateBadge(p.state, p.last_error)),
        el("td", { class: "num" }, p.restarts),
        el("td", { class: "num mono", "data-field": "pid" }, p.pid || dash()),
        el("td", { class: "wrap" }, (p.types || []).join(", ")),
        el("td", { class: "mono", title: p.sha256 ? p.sha256 + "\n" + p.path : p.path }, p.sha256 ? p.sha256.slice(0, 16) + "…" : el("span", { class: "muted" }, p.path)),
      ));
    if (!prows.length) prows.push(el("tr", {}, el("td", { class: "empty", colspan: 7 }, "No plugin.")));
    $("plugins").tBodies[0].replaceChildren(...prows);
  }

  function renderResource(id) {
    const sec = $("resource");
    const d = state.detail;
    const crumbs = el("div", { class: "crumbs" }, el("a", { href: "#/" }, "Overview"), " / resource");
    if (!d) {
      sec.replaceChildren(crumbs, el("div", { class: "title" }, el("h1", {}, id)), el("p", { class: "muted" }, "Loading…"));
      return;
    }
    if (d.missing) {
      sec.replaceChildren(crumbs, el("div", { class: "title" }, el("h1", {}, id)), el("p", { class: "note" }, d.missing));
      return;
    }
    const h = state.healthByID.get(id) || {};
    const pool = d.pool;
    const st = pool.stat;
    const plugin = (state.plugins || []).find((p) => p.name === d.plugin);

    const title = el("div", { class: "title", "data-resource": d.id },
      el("h1", {}, d.id), stateBadge(d.state, d.error), stateBadge(d.health, h.reason),
      h.quarantined ? badge("quarantined", "bad", h.reason) : null,
      d.resilience.breaker ? badge("breaker " + d.resilience.breaker, breakerTone[d.resilience.breaker]) : null);

    const row = (k, v) => [el("dt", {}, k), el("dd", {}, v === "" || v === undefined || v === null ? dash() : v)];
    const card = (heading, ...content) => el("div", { class: "card" }, el("h3", {}, heading), ...content);

    const status = card("Status", el("dl", {},
      ...row("Type", d.type),
      ...row("Plugin", plugin ? `${d.plugin} ${plugin.version}` : d.plugin),
      ...row("Lifecycle", stateBadge(d.state)),
      ...(d.error ? row("Error", el("span", { class: "error" }, d.error)) : []),
      ...row("Health", el("span", {}, stateBadge(h.state || d.health), h.reason ? " " + h.reason : "")),
      ...row("Since", when(h.since)),
      ...row("Checks", h.consecutive_failures ? `${h.consecutive_failures} failed in a row` : h.consecutive_passes ? `${h.consecutive_passes} passed in a row` : ""),
      ...row("Last check", h.last_check ? el("span", {}, when(h.last_check), " in " + duration(h.last_latency_ns)) : ""),
      ...(h.last_error ? row("Last error", el("span", { class: "error" }, h.last_error)) : []),
      ...row("Critical", d.critical ? "yes: readiness follows it" : "no"),
      ...row("Depends on", (d.depends_on || []).join(", ")),
      ...row("Capabilities", (d.capabilities || []).join(", ")),
    ));

    const res = d.resilience;
    const breaker = card("Circuit breaker", el("dl", {},
      ...row("State", res.breaker ? badge(res.breaker, breakerTone[res.breaker]) : "no circuit breaker"),
      ...(res.breaker ? row("Opens for", duration(res.breaker_open_for_ns)) : []),
      ...row("Retries", res.retries + " since start"),
      ...row("Rejected", res.rejected + " (open breaker or full bulkhead)"),
    ));

    const set = pool.settings;
    const poolCard = card("Pool · " + pool.mode, occupancy(st.in_use, st.idle, st.max_size), el("dl", {},
      ...row("Instances", pool.mode === "shared"
        ? `${st.total} of ${st.max_size} replicas open, ${st.constructing} reopening; ${st.in_use} leases in flight`
        : `${st.total} open: ${st.in_use} in use, ${st.idle} idle, ${st.constructing} opening`),
      ...row("Limits", pool.mode === "shared" ? `${st.max_size} replicas, selection ${set.selection}` : `min ${st.min_size}, max ${st.max_size}, max idle ${set.max_idle}, ${set.order}`),
      ...row("Waiting now", st.waiting),
      ...row("Acquires", `${st.acquire_count} since start, ${st.timeout_count} timed out, ${st.canceled_acquire_count} canceled`),
      ...row("Instances made", `${st.created} created; closed: ${st.destroyed_idle} idle, ${st.destroyed_lifetime} lifetime, ${st.destroyed_broken} broken`),
      ...row("Timeouts", `acquire ${setting(set.acquire_timeout)}, lease ${setting(set.lease_timeout)}${set.reclaim ? " (reclaimed)" : ""}`),
      ...row("Lifetimes", `idle ${setting(set.idle_timeout)}, max ${setting(set.max_lifetime)}`),
    ));

    const w = st.window;
    let windowCard;
    if (!w.window_ns) {
      windowCard = card("Last 5 minutes", el("p", { class: "muted" }, "This host keeps no window of its pools."));
    } else {
      const advice = w.advice
        ? el("div", { class: "advice", "data-field": "advice" }, "Sizing advice: " + w.advice)
        : el("div", { class: "advice none", "data-field": "advice" }, pool.mode === "exclusive"
          ? "No sizing advice: the window has fewer than 100 acquires, or shows a size that fits."
          : "No sizing advice: a shared pool never waits for an instance.");
      windowCard = card("Last 5 minutes", el("dl", {},
        ...row("Span", duration(w.window_ns) + (w.window_ns < 299e9 ? " (the pool is younger)" : "")),
        ...row("Acquires", `${w.acquires}, ${w.waited} waited, ${w.timeouts} timed out`),
        ...row("Wait", `p50 ${duration(w.wait_p50_ns)} · p95 ${duration(w.wait_p95_ns)} · p99 ${duration(w.wait_p99_ns)} · max ${duration(w.wait_max_ns)}`),
        ...(pool.mode === "shared"
          ? row("In flight", `mean ${w.in_use_mean.toFixed(1)}, peak ${w.in_use_peak} over ${st.max_size} replicas`)
          : row("In use", `mean ${w.in_use_mean.toFixed(1)}, peak ${w.in_use_peak} of ${st.max_size}`)),
        ...row("Utilization", `mean ${pct(w.utilization_mean)}, peak ${pct(w.utilization_peak)}` + (pool.mode === "shared" ? " per replica" : "")),
      ), advice);
    }

    windowCard.classList.add("wide");
    const grid = el("div", { class: "cards detail" }, status, breaker, poolCard, windowCard, sparkCard(id));

    const leases = (pool.leases || []).map((l) =>
      el("tr", {},
        el("td", {}, l.owner.tenant || dash()),
        el("td", {}, l.owner.workflow || dash()),
        el("td", {}, l.owner.step || dash()),
        el("td", { class: "num" }, duration(l.held_ns))));
    if (!leases.length) leases.push(el("tr", {}, el("td", { class: "empty", colspan: 4 }, "No lease is out.")));
    const leaseTable = el("div", { class: "table-wrap" }, el("table", { id: "leases" },
      el("thead", {}, el("tr", {}, el("th", {}, "Tenant"), el("th", {}, "Workflow"), el("th", {}, "Step"), el("th", { class: "num" }, "Held"))),
      el("tbody", {}, ...leases)));

    const events = (h.history || []).slice().reverse().map((e) =>
      el("tr", {},
        el("td", {}, when(e.at)),
        el("td", {}, e.kind),
        el("td", {}, ...(e.kind === "breaker"
          ? [badge(e.from, breakerTone[e.from]), " → ", badge(e.to, breakerTone[e.to])]
          : [stateBadge(e.from), " → ", stateBadge(e.to)])),
        el("td", { class: "wrap" }, e.reason)));
    if (!events.length) events.push(el("tr", {}, el("td", { class: "empty", colspan: 4 }, "No change yet.")));
    const history = el("div", { class: "table-wrap" }, el("table", { id: "history" },
      el("thead", {}, el("tr", {}, el("th", {}, "When"), el("th", {}, "Kind"), el("th", {}, "Change"), el("th", {}, "Reason"))),
      el("tbody", {}, ...events)));

    const parts = [crumbs, title, grid,
      el("h2", {}, `Leases out (${(pool.leases || []).length})`), leaseTable,
      el("h2", {}, "Health history"), history];

    if (st.replicas && st.replicas.length) {
      parts.push(el("h2", {}, "Replicas"), el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "Open"), el("th", { class: "num" }, "In flight"), el("th", { class: "num" }, "Latency"), el("th", { class: "num" }, "Error rate"))),
        el("tbody", {}, ...st.replicas.map((r, i) => el("tr", {},
          el("td", {}, i), el("td", {}, r.open ? "yes" : "no"), el("td", { class: "num" }, r.in_flight),
          el("td", { class: "num" }, duration(r.latency_ns)), el("td", { class: "num" }, pct(r.error_rate))))))));
    }

    if (d.operations && d.operations.length) {
      parts.push(el("h2", {}, "Operations"), el("div", { class: "ops" }, ...d.operations.map((op) =>
        el("span", { class: "op" + (op.idempotent ? " idem" : ""), title: (op.description || "") + (op.idempotent ? "\nidempotent" : "") }, op.name + (op.stream ? " ⇅" : "")))));
    }
    sec.replaceChildren(...parts);
  }

  // sparkCard draws the pool's in use and waiting callers as this page
  // sampled them, over the last 5 minutes at most.
  function sparkCard(id) {
    const s = state.series.get(id) || [];
    const card = el("div", { class: "card" }, el("h3", {}, "Since this page opened"));
    if (s.length < 2) {
      card.append(el("p", { class: "muted" }, "Sampling every " + POLL_MS / 1000 + " s…"));
      return card;
    }
    const now = s[s.length - 1].t;
    const span = Math.max(20000, now - s[0].t);
    const line = (key, cls, limit) => {
      const top = Math.max(1, limit || 0, ...s.map((p) => p[key]));
      const g = svg("svg", { viewBox: "0 0 300 44", preserveAspectRatio: "none", role: "img", "aria-label": key });
      const y = (v) => (42 - (v / top) * 38).toFixed(1);
      if (limit) g.append(svg("line", { class: "limit", x1: 0, x2: 300, y1: y(limit), y2: y(limit) }));
      const pts = s.map((p) => `${(300 - ((now - p.t) / span) * 300).toFixed(1)},${y(p[key])}`).join(" ");
      g.append(svg("polyline", { class: cls, points: pts }));
      return g;
    };
    const last = s[s.length - 1];
    const peak = (key) => Math.max(...s.map((p) => p[key]));
    const head = (label, key) => el("div", { class: "spark-head" }, el("span", {}, label), el("span", {}, "now ", el("b", {}, last[key]), ", peak ", el("b", {}, peak(key))));
    card.append(el("div", { class: "spark" },
      el("div", { class: "spark-row" }, head("In use (dashed: max_size)", "inUse"), line("inUse", "in-use", last.max)),
      el("div", { class: "spark-row" }, head("Callers waiting", "waiting"), line("waiting", "waiting", 0))),
    el("p", { class: "muted" }, `Sampled by this page every ${POLL_MS / 1000} s over the last ${duration(span * 1e6)}; the host's own window is beside.`));
    return card;
  }

  if (state.token) $("signout").hidden = false;
  poll();
})();
