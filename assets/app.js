// HUMMBL console: small progressive enhancements. Every page works without this.
import * as telemetry from "/sdk/telemetry.js";

// Every console page reports its page view and load time (T4 Observation).
const component = document.body.dataset.component;
if (component) {
  telemetry.init();
  telemetry.pageView(component);
  telemetry.reportPageLoad(component);
}

// Tell the server the viewer's time zone, so dates and the peak-hours heat map
// on the analytics pages are local (UTC until this cookie exists).
try {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && !document.cookie.split("; ").includes(`hummbl_tz=${zone}`)) {
    document.cookie = `hummbl_tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; SameSite=Lax`;
  }
} catch {
  // No time zone support: the pages stay in UTC.
}

// Ask before a form marked data-confirm does something hard to undo.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset?.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// Submit the team switcher as soon as a team is chosen.
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form?.requestSubmit());
}

// Show <time datetime> values in the viewer's own time zone.
const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
for (const el of document.querySelectorAll("time[datetime]")) {
  const at = new Date(el.getAttribute("datetime"));
  if (!Number.isNaN(at.getTime())) {
    el.title = el.textContent;
    el.textContent = format.format(at);
  }
}

// Close the user menu on Escape, returning focus to its button.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.user-menu[open]")) {
    menu.open = false;
    menu.querySelector("summary")?.focus();
  }
});
