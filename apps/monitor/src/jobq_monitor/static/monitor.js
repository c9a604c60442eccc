// jobq monitor: live updates. Plain modern JavaScript, no library and no build step.
//
// The page is rendered by the server from the broker's state. This script opens the
// monitor's WebSocket, resumes the event stream from the id the page was rendered at
// (`data-last-event-id`), adds each event to the live feed, and re-fetches the page's
// live regions (`[data-live]`, fetched with the header `x-jobq-partial: 1`) when an
// event concerns them. After a reconnect it rebuilds every region from state and
// resumes the stream from the last event it saw: nothing lost, nothing twice.
"use strict";

(() => {
  const app = document.getElementById("app");
  if (!app) return;

  const feed = document.getElementById("feed");
  const conn = document.getElementById("connection");
  const announce = document.getElementById("announce");
  const feedLimit = feed ? Number(feed.dataset.limit || 40) : 0;
  let lastId = app.dataset.lastEventId || "0-0";
  let retries = 0;
  let connectedBefore = false;

  // ------------------------------------------------------------------ helpers
  const fill = (template, id) => template.replace("__ID__", encodeURIComponent(id));
  const jobUrl = (id) => fill(app.dataset.jobUrl, id);
  const workflowUrl = (id) => fill(app.dataset.workflowUrl, id);

  /** Compare two stream ids ("<ms>-<seq>"): negative, zero or positive. */
  function compareIds(a, b) {
    const [am, as] = a.split("-").map(Number);
    const [bm, bs] = b.split("-").map(Number);
    return am === bm ? as - bs : am - bm;
  }

  function setConnection(state, text) {
    if (!conn) return;
    conn.dataset.state = state;
    conn.textContent = text;
  }

  /** A short summary of an event's data: mirrors the server's event_detail filter. */
  function detailOf(msg) {
    switch (msg.type) {
      case "job_submitted":
        return `${msg.job_type ?? ""} · priority ${msg.priority ?? ""}`;
      case "job_progress":
        return `${msg.progress ?? ""} %` + (msg.message ? ` · ${msg.message}` : "");
      case "job_failed":
        return `${String(msg.error ?? "").slice(0, 120)} · ${msg.will_retry ? "will retry" : "final"}`;
      case "job_cancelled":
      case "job_released":
      case "worker_disconnected":
        return String(msg.reason ?? "");
      case "workflow_failed":
        return String(msg.error ?? "").slice(0, 120);
      default:
        return "";
    }
  }
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ------------------------------------------------------------------ the feed
  function addToFeed(msg) {
    if (!feed) return;
    const item = el("li", `event ev-${msg.type} fresh`);
    item.dataset.eventId = msg.event_id;
    const when = new Date(msg.timestamp);
    const time = el("time", "", when.toISOString().slice(11, 19));
    time.dateTime = msg.timestamp;
    item.append(time, " ", el("span", "ev-type", msg.type.replaceAll("_", " ")));
    if (msg.job_id) {
      const link = el("a", "", `job ${msg.job_id.slice(0, 8)}`);
      link.href = jobUrl(msg.job_id);
      item.append(" ", link);
    } else if (msg.workflow_id) {
      const link = el("a", "", `workflow ${msg.workflow_id.slice(0, 8)}`);
      link.href = workflowUrl(msg.workflow_id);
      item.append(" ", link);
    }
    if (msg.worker_id) item.append(" ", el("span", "ev-worker", msg.worker_id));
    const detail = detailOf(msg);
    if (detail) item.append(" ", el("span", "ev-detail", detail));
    feed.prepend(item);
    while (feed.children.length > feedLimit) feed.lastElementChild.remove();
    const empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
  }

  if (announce && feed) {
    announce.addEventListener("change", () => {
      feed.setAttribute("aria-live", announce.checked ? "polite" : "off");
    });
  }

  // ------------------------------------------------------------------ live regions
  const regions = [...document.querySelectorAll("[data-live]")].map((node) => ({
    node,
    src: node.dataset.live || location.pathname + location.search,
    kinds: (node.dataset.liveEvents || "").split(/\s+/).filter(Boolean),
    job: node.dataset.liveJob || null,
    workflow: node.dataset.liveWorkflow || null,
    timer: null,
    busy: false,
    again: false,
  }));

  function concerns(region, msg) {
    if (region.job && msg.job_id !== region.job) return false;
    if (region.workflow && msg.workflow_id !== region.workflow) return false;
    return region.kinds.length === 0 || region.kinds.some((kind) => msg.type.startsWith(kind));
  }

  function schedule(region, delay = 200) {
    if (region.timer !== null) return;
    region.timer = setTimeout(() => {
      region.timer = null;
      refresh(region);
    }, delay);
  }

  async function signedOut() {
    const next = encodeURIComponent(location.pathname + location.search);
    location.assign(`${app.dataset.signinUrl}?next=${next}`);
  }

  async function refresh(region) {
    if (region.busy) {
      region.again = true;
      return;
    }
    region.busy = true;
    try {
      const response = await fetch(region.src, {
        headers: { "x-jobq-partial": "1" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.status === 401) {
        await signedOut();
        return;
      }
      if (response.ok) {
        const html = await response.text();
        if (html !== region.html) {
          region.node.innerHTML = html;
          region.html = html;
        }
        region.node.dataset.refreshed = String(Date.now());
      }
    } catch (error) {
      // Offline: the reconnect rebuilds every region.
    } finally {
      region.busy = false;
      if (region.again) {
        region.again = false;
        schedule(region);
      }
    }
  }

  for (const region of regions) {
    const every = Number(region.node.dataset.liveEvery || 0);
    if (every > 0) setInterval(() => schedule(region, 0), every * 1000);
  }

  // ------------------------------------------------------------------ the socket
  function onMessage(msg) {
    if (msg.type === "subscribed") {
      setConnection("live", "Live");
      return;
    }
    if (!msg.event_id) return; // pong, error
    if (compareIds(msg.event_id, lastId) <= 0) return; // already shown
    lastId = msg.event_id;
    app.dataset.lastEventId = lastId;
    addToFeed(msg);
    for (const region of regions) if (concerns(region, msg)) schedule(region);
  }

  async function stillSignedIn() {
    try {
      const response = await fetch(app.dataset.overviewUrl, { credentials: "same-origin", cache: "no-store" });
      return response.status !== 401;
    } catch (error) {
      return true; // the server is down, not our session
    }
  }

  function connect() {
    const url = new URL(app.dataset.ws, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    setConnection(connectedBefore ? "reconnecting" : "connecting", connectedBefore ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      retries = 0;
      socket.send(JSON.stringify({ type: "subscribe_all", since: lastId }));
      if (connectedBefore) for (const region of regions) schedule(region, 0); // rebuild from state
      connectedBefore = true;
    });
    socket.addEventListener("message", (message) => {
      let msg;
      try {
        msg = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      onMessage(msg);
    });
    socket.addEventListener("close", async () => {
      setConnection("reconnecting", "Reconnecting…");
      if (!(await stillSignedIn())) {
        await signedOut();
        return;
      }
      const delay = Math.min(10000, 500 * 2 ** retries);
      retries += 1;
      setTimeout(connect, delay);
    });
  }

  connect();
})();
