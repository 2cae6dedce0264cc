// HUMMBL scheduler form: a visual builder that writes the cron text (and reads
// it back when the text is edited by hand), and the next 10 runs, redrawn as
// one types. The form posts the text; without this script it still works.

const cron = document.getElementById("schedule-cron");
const zone = document.getElementById("schedule-timezone");
const builder = document.getElementById("schedule-builder");
const mode = document.getElementById("builder-mode");
const preview = document.getElementById("schedule-preview");

const field = (id) => document.getElementById(id);
const pad = (n) => String(n).padStart(2, "0");
const clamp = (value, low, high, fallback) => {
  const n = Number.parseInt(value, 10);
  return Number.isInteger(n) && n >= low && n <= high ? n : fallback;
};
const hm = (text) => {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!match) return null;
  const [h, m] = [Number(match[1]), Number(match[2])];
  return h < 24 && m < 60 ? [h, m] : null;
};

// The builder's choice as cron text.
function write() {
  const time = hm(field("builder-time").value) ?? [9, 0];
  switch (mode.value) {
    case "minutes": return `*/${clamp(field("builder-every").value, 1, 59, 15)} * * * *`;
    case "hourly": return `${clamp(field("builder-minute").value, 0, 59, 0)} * * * *`;
    case "daily": {
      const times = field("builder-times").value.split(",").map(hm).filter(Boolean);
      if (!times.length) return null;
      const minutes = new Set(times.map(([, m]) => m));
      if (minutes.size === 1) return `${times[0][1]} ${times.map(([h]) => h).join(",")} * * *`;
      return null; // Different minutes need more than one expression.
    }
    case "weekdays": return `${time[1]} ${time[0]} * * 1-5`;
    case "weekly": {
      const days = [...document.querySelectorAll("input[name=builder-days]:checked")].map((box) => box.value);
      return days.length ? `${time[1]} ${time[0]} * * ${days.join(",")}` : null;
    }
    case "monthly": return `${time[1]} ${time[0]} ${field("builder-day").value} * *`;
    default: return null;
  }
}

// The cron text read back into the builder, when it is one of its shapes.
function read(text) {
  const parts = text.trim().split(/\s+/);
  const set = (name, value) => { field(name).value = value; };
  const at = (m, h) => `${pad(h)}:${pad(m)}`;
  const number = (s) => /^\d+$/.test(s);
  if (parts.length !== 5) return "custom";
  const [m, h, dom, mon, dow] = parts;
  if (/^\*\/\d+$/.test(m) && h === "*" && dom === "*" && mon === "*" && dow === "*") {
    set("builder-every", m.slice(2)); return "minutes";
  }
  if (number(m) && h === "*" && dom === "*" && mon === "*" && dow === "*") { set("builder-minute", m); return "hourly"; }
  if (!number(m) || mon !== "*") return "custom";
  if (dom === "*" && dow === "*" && h.split(",").every(number)) {
    set("builder-times", h.split(",").map((hour) => at(m, hour)).join(", ")); return "daily";
  }
  if (!number(h)) return "custom";
  set("builder-time", at(m, h));
  if (dom === "*" && (dow === "1-5" || dow === "MON-FRI")) return "weekdays";
  if (dom === "*" && /^[0-6](,[0-6])*$/.test(dow)) {
    const days = new Set(dow.split(","));
    for (const box of document.querySelectorAll("input[name=builder-days]")) box.checked = days.has(box.value);
    return "weekly";
  }
  if (dow === "*" && (dom === "L" || (number(dom) && Number(dom) >= 1 && Number(dom) <= 31))) {
    set("builder-day", dom); return "monthly";
  }
  return "custom";
}

// Only the fields of the chosen mode show.
function showFields() {
  for (const element of builder.querySelectorAll("[data-modes]")) {
    element.hidden = !element.dataset.modes.split(" ").includes(mode.value);
  }
}

let pending;
function refresh() {
  clearTimeout(pending);
  pending = setTimeout(async () => {
    const params = new URLSearchParams({ cron: cron.value, tz: zone.value || "UTC", n: "10" });
    try {
      const response = await fetch(`/api/schedules/preview?${params}`, { credentials: "same-origin" });
      const body = await response.json();
      const local = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
      preview.replaceChildren();
      if (!response.ok) {
        const error = document.createElement("p");
        error.className = "field-error";
        error.textContent = body?.error?.message ?? "This expression cannot be read.";
        preview.append(error);
        return;
      }
      const description = document.createElement("p");
      description.id = "schedule-description";
      description.append(Object.assign(document.createElement("strong"), { textContent: body.description }));
      const list = document.createElement("ol");
      list.id = "schedule-next";
      for (const at of body.next) {
        const item = document.createElement("li");
        item.append(Object.assign(document.createElement("code"), { textContent: at }));
        item.append(` · your time: ${local.format(new Date(at))}`);
        const note = body.notes.find((n) => n.at === at);
        if (note) {
          item.append(" ", Object.assign(document.createElement("span"), { className: "badge", textContent: "daylight saving" }));
          item.append(" ", Object.assign(document.createElement("span"), { className: "muted", textContent: note.note }));
        }
        list.append(item);
      }
      preview.append(description, list);
    } catch {
      // Offline: the server's preview stays.
    }
  }, 250);
}

if (cron && builder && mode && preview) {
  builder.hidden = false;
  mode.value = read(cron.value);
  showFields();
  builder.addEventListener("input", () => {
    if (mode.value === "custom") return;
    const text = write();
    if (text) { cron.value = text; refresh(); }
  });
  mode.addEventListener("change", showFields);
  cron.addEventListener("input", () => { mode.value = read(cron.value); showFields(); refresh(); });
  zone.addEventListener("input", refresh);
}
