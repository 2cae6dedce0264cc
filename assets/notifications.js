// Notifications, live: keeps the unread badge of every open tab exact and, on
// /notifications, adds arriving notifications and shows read changes without a
// reload. Every report of the unread count carries the inbox `version` it was
// counted at; a tab keeps the count of the highest version it has seen, so
// reports that cross on the way never leave a stale badge.
//
// One tab per browser follows /api/notifications/stream: the tab holding a Web
// Lock. It passes what arrives to the other tabs over a BroadcastChannel, so
// ten open tabs do not use up the browser's six connections per server. When
// that tab closes, another takes the lock and the stream. Without these APIs,
// each tab follows the stream itself. Without this script, the pages still
// show the count as of loading and every form works.

const badge = document.querySelector("[data-unread-badge]");
const list = document.getElementById("notifications");
let version = Number(badge?.dataset.version || list?.dataset.version || 0);
const firstPage = !new URLSearchParams(location.search).has("before");
const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function showCount(unread, atVersion) {
  if (typeof unread !== "number" || atVersion < version) return;
  version = atVersion;
  if (badge) {
    badge.querySelector("[data-unread-count]").textContent = String(unread);
    badge.hidden = unread === 0;
    badge.dataset.version = String(version);
  }
  const summary = document.getElementById("unread-summary");
  if (summary) summary.textContent = unread === 0 ? "Nothing unread." : `${unread} unread.`;
  const readAll = document.querySelector("form[action='/notifications/read-all'] button");
  if (readAll) readAll.disabled = unread === 0;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function postForm(action, fields, label, buttonClass) {
  const form = element("form");
  form.method = "post";
  form.action = action;
  for (const [name, value] of Object.entries(fields)) {
    const input = element("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.append(input);
  }
  const button = element("button", `button button-small ${buttonClass || ""}`.trim(), label);
  button.type = "submit";
  form.append(button);
  return form;
}

const labels = {};
for (const option of document.querySelectorAll("#filter-type option[value]")) {
  if (option.value) labels[option.value] = option.textContent;
}

// The same markup as the server's `notifications::page::item`.
function render(notification) {
  const item = element("li", notification.read ? "notification" : "notification unread");
  item.dataset.id = notification.id;
  item.dataset.type = notification.type;
  const body = element("div", "notification-body");
  const title = element("p", "notification-title");
  title.append(element("span", "notification-type", labels[notification.type] || notification.type), ` ${notification.title}`);
  body.append(title);
  if (notification.message) body.append(element("p", "notification-message", notification.message));
  const meta = element("p", "notification-meta");
  const at = new Date(notification.created_at);
  const time = element("time", undefined, format.format(at));
  time.dateTime = at.toISOString();
  meta.append(time);
  if (notification.team_id !== list.dataset.team) meta.append(` · from ${notification.team_name}`);
  body.append(meta);
  const actions = element("div", "notification-actions");
  if (notification.link) actions.append(postForm(`/notifications/${notification.id}/open`, {}, "Open"));
  actions.append(postForm(`/notifications/${notification.id}/read`,
    { read: String(!notification.read), back: list.dataset.back || "" },
    notification.read ? "Mark unread" : "Mark read", "toggle-read"));
  item.append(body, actions);
  return item;
}

function wanted(notification) {
  return firstPage && (!list.dataset.type || list.dataset.type === notification.type);
}

function showRead(item, read) {
  item.classList.toggle("unread", !read);
  const form = item.querySelector("form[action$='/read']");
  if (!form) return;
  form.querySelector("input[name=read]").value = String(!read);
  form.querySelector("button").textContent = read ? "Mark unread" : "Mark read";
}

function handle(kind, data) {
  if (kind === "resync") {
    refresh();
    return;
  }
  if (!data) return;
  showCount(data.unread, data.version);
  if (!list) return;
  if (kind === "notification.created" && wanted(data.notification)) {
    if (list.querySelector(`li[data-id="${CSS.escape(data.notification.id)}"]`)) return;
    list.prepend(render(data.notification));
    document.getElementById("no-notifications")?.remove();
  } else if (kind === "notification.read") {
    const items = data.all ? list.querySelectorAll("li.notification")
      : data.ids.map((id) => list.querySelector(`li[data-id="${CSS.escape(id)}"]`)).filter(Boolean);
    for (const item of items) {
      if (list.dataset.unreadOnly && data.read) item.remove();
      else showRead(item, data.read);
    }
  }
}

// The count (and on the list's first page, the list) as the server has it now:
// after the stream (re)opens, something may have happened meanwhile.
async function refresh() {
  const params = new URLSearchParams();
  if (list?.dataset.type) params.set("type", list.dataset.type);
  if (list?.dataset.unreadOnly) params.set("unread", "true");
  if (!list || !firstPage) params.set("limit", "1");
  try {
    const response = await fetch(`/api/notifications?${params}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const page = await response.json();
    showCount(page.unread, page.version);
    if (list && firstPage) {
      list.replaceChildren(...page.notifications.map(render));
      if (page.notifications.length) document.getElementById("no-notifications")?.remove();
    }
  } catch {
    // Offline: the next event or reconnect tries again.
  }
}

const channel = "BroadcastChannel" in window ? new BroadcastChannel("hummbl-notifications") : null;
channel?.addEventListener("message", (message) => handle(message.data?.kind, message.data?.data));

// Follows the stream until this page goes away (then the lock passes on).
function follow() {
  return new Promise((done) => {
    let stream;
    const open = () => {
      stream = new EventSource("/api/notifications/stream");
      for (const kind of ["notification.created", "notification.read"]) {
        stream.addEventListener(kind, (message) => {
          let data;
          try { data = JSON.parse(message.data); } catch { return; }
          handle(kind, data);
          channel?.postMessage({ kind, data });
        });
      }
      stream.addEventListener("resync", () => {
        handle("resync");
        channel?.postMessage({ kind: "resync" });
      });
      stream.addEventListener("open", refresh);
      stream.addEventListener("error", () => {
        // Refused (signed out, too many streams): try again later.
        if (stream.readyState === EventSource.CLOSED) setTimeout(open, 30000);
      });
    };
    open();
    window.addEventListener("pagehide", () => {
      stream.close();
      done();
    }, { once: true });
  });
}

function start() {
  if (channel && navigator.locks) {
    navigator.locks.request("hummbl-notifications-stream", follow);
  } else {
    follow();
  }
}

if (badge || list) {
  start();
  // Back from the browser's page cache: follow again, and catch up.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    start();
    refresh();
  });
}
