// Execution monitor: keeps the table live from /api/executions/stream (SSE),
// ticks the elapsed time of running executions, and opens an execution's step
// timeline in a dialog (the link still works as a page without this script).
// The browser's EventSource reconnects by itself and resumes with Last-Event-ID;
// a `resync` event (we fell behind) reloads the page. Without this script the
// page still shows the list as of loading, and every button still works.
// On an execution's own page, while it runs, its state and steps are redrawn
// as they change.

const table = document.getElementById("executions");

// Kill forms carry data-confirm; app.js asks before they are sent.

// When access ends (removed from the team, signed out elsewhere, password
// changed), the server closes the stream and refuses it again: the page stops
// at once and goes to sign-in rather than showing a list that no longer moves.
function leaveWhenAccessEnds(stream) {
  stream.addEventListener("error", async () => {
    try {
      const me = await fetch("/api/me", { credentials: "same-origin" });
      if (me.status !== 401) return;
      stream.close();
      location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    } catch {
      // Offline: the browser keeps trying to reconnect.
    }
  });
}

function actionForm(id, action, label, danger) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = `/monitor/${encodeURIComponent(id)}/${action}`;
  if (action === "cancel") form.dataset.confirm = "Kill this execution?";
  const button = document.createElement("button");
  button.type = "submit";
  button.className = `button button-small${danger ? " button-danger" : ""}`;
  button.textContent = label;
  form.append(button);
  return form;
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text !== undefined) td.textContent = text;
  return td;
}

// The same wording as the server's rows (executions/page.rs).
function startedBy(execution, names) {
  const name = names[execution.user_id] ?? "someone";
  switch (execution.triggered_by) {
    case "schedule": return "schedule";
    case "demo": return "demo trickle";
    case "otlp": return "OpenTelemetry";
    case "retry": return `retry by ${names[execution.user_id] ?? ""}`;
    default: return name;
  }
}

function duration(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

function tickElapsed(cell) {
  const started = Number(cell.dataset.started);
  if (!started) return;
  const completed = Number(cell.dataset.completed) || Date.now();
  cell.textContent = duration(completed - started);
}

function render(execution, mayAct, names) {
  const row = document.createElement("tr");
  row.dataset.executionId = execution.id;
  if (mayAct) {
    const box = Object.assign(document.createElement("input"), { type: "checkbox", name: "id", value: execution.id });
    box.setAttribute("form", "bulk");
    box.setAttribute("aria-label", `Select ${execution.id}`);
    const td = cell();
    td.append(box);
    row.append(td);
  }
  const link = document.createElement("a");
  link.href = `/monitor/${encodeURIComponent(execution.id)}`;
  const code = document.createElement("code");
  code.textContent = `${execution.id.slice(0, 13)}…`;
  link.append(code);
  const first = cell();
  first.append(link);
  row.append(first, cell(execution.workflow_name), cell(undefined, "status-cell"), cell(undefined, "progress"),
    cell(undefined, "elapsed"), cell(startedBy(execution, names)), cell(new Date(execution.created_at).toLocaleString()));
  if (mayAct) row.append(cell(undefined, "actions"));
  return row;
}

function update(row, execution, mayAct) {
  const status = row.querySelector("td.status-cell");
  status.replaceChildren(Object.assign(document.createElement("span"), {
    className: `status status-${execution.status}`, textContent: execution.status,
  }));
  row.querySelector("td.progress").textContent = `${execution.steps_done} / ${execution.steps_total}`;
  const elapsed = row.querySelector("td.elapsed");
  elapsed.dataset.started = execution.started_at ?? execution.created_at;
  if (execution.completed_at) elapsed.dataset.completed = execution.completed_at;
  tickElapsed(elapsed);
  const actions = row.querySelector("td.actions");
  if (mayAct && actions) {
    const finished = ["succeeded", "failed", "cancelled"].includes(execution.status);
    actions.replaceChildren();
    if (execution.source === "otlp") {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.title = "A trace sent by your own service: kill and retry do not apply";
      badge.textContent = "external";
      actions.append(badge);
    } else if (!finished) actions.append(actionForm(execution.id, "cancel", "Kill", true));
    else if (execution.status !== "succeeded") actions.append(actionForm(execution.id, "retry", "Retry", false));
  }
}

if (table) {
  const body = table.tBodies[0];
  const mayAct = table.dataset.mayAct === "true";
  let names = {};
  try { names = JSON.parse(table.dataset.names || "{}"); } catch { names = {}; }
  const params = new URLSearchParams(location.search);
  const statuses = (params.get("status") || "").split(",").filter(Boolean);
  const workflow = params.get("workflow");
  const user = params.get("user");
  const source = params.get("source");
  const wanted = (e) => (!statuses.length || statuses.includes(e.status))
    && (!workflow || e.workflow_id === workflow) && (!user || e.user_id === user)
    && (!source || e.source === source);
  const stream = new EventSource("/api/executions/stream");
  leaveWhenAccessEnds(stream);
  stream.addEventListener("execution.changed", (message) => {
    let execution;
    try { execution = JSON.parse(message.data); } catch { return; }
    let row = body.querySelector(`tr[data-execution-id="${CSS.escape(execution.id)}"]`);
    if (!row) {
      if (!wanted(execution)) return;
      row = render(execution, mayAct, names);
      body.prepend(row);
      document.getElementById("no-executions")?.remove();
    }
    update(row, execution, mayAct);
  });
  stream.addEventListener("resync", () => location.reload());
}

if (table) {
  setInterval(() => {
    for (const cell of table.querySelectorAll("td.elapsed:not([data-completed])")) tickElapsed(cell);
  }, 1000);

  // An execution's timeline in a dialog, from its own page.
  const dialog = document.createElement("dialog");
  dialog.id = "execution-dialog";
  dialog.setAttribute("aria-label", "Execution details");
  document.body.append(dialog);
  table.addEventListener("click", async (event) => {
    const link = event.target.closest?.("a[href^='/monitor/']");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    try {
      const response = await fetch(link.href, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const main = page.querySelector("main");
      main?.querySelectorAll("script").forEach((script) => script.remove());
      const close = Object.assign(document.createElement("button"), { type: "submit", className: "button button-small", textContent: "Close" });
      const form = Object.assign(document.createElement("form"), { method: "dialog" });
      form.append(close);
      dialog.replaceChildren(form, ...(main ? [...main.childNodes] : []));
      dialog.showModal();
    } catch {
      location.href = link.href;
    }
  });
}

// An execution's page while it runs: redraw it from the server whenever the
// stream says this execution changed, until it has finished.
const live = document.querySelector("[data-live-execution]");
if (live) {
  const id = live.dataset.liveExecution;
  const stream = new EventSource("/api/executions/stream");
  leaveWhenAccessEnds(stream);
  let pending = Promise.resolve();
  const redraw = () => {
    pending = pending.then(async () => {
      try {
        const response = await fetch(location.href, { credentials: "same-origin" });
        if (!response.ok) return;
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.querySelector("main");
        if (!fresh) return;
        fresh.querySelectorAll("script").forEach((script) => script.remove());
        // Asked before the nodes move: afterwards `fresh` is empty.
        const finished = !fresh.querySelector("[data-live-execution]");
        document.querySelector("main")?.replaceChildren(...fresh.childNodes);
        if (finished) stream.close();
      } catch {
        // The next change tries again.
      }
    });
  };
  stream.addEventListener("execution.changed", (message) => {
    try {
      if (JSON.parse(message.data).id === id) redraw();
    } catch {
      // Not an execution: nothing to redraw.
    }
  });
  stream.addEventListener("resync", redraw);
  // A change may land between this page's load and the stream's start.
  stream.addEventListener("open", redraw, { once: true });
}
