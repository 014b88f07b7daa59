// Calls every method of the npm `statuspage.io` client (pinned in package.json) against a
// siaga base URL and prints one JSON object:
//   {"base", "page_id", "calls": {name: {ok, requests: [{method, url, status}], data | error,
//                                        shape_errors: [...]}},
//    "subscriber_calls": {... the same, for the five subscriber methods}}
// Usage: node client.mjs <siaga base URL, e.g. http://127.0.0.1:8080> [page id]
//
// How it is pointed at siaga: the client builds `https://{pageId}.statuspage.io` as the
// base of its axios instance; its own public `setApiUrl(url)` replaces that base, so no
// shim is needed. The page id is only used to build that first URL (siaga's own id is
// passed when given, any non-empty string works).
//
// The 8 read calls are the client's Statuspage public API (`api.getSummary`, `getStatus`,
// `getComponents`, `incidents.getAll`, `incidents.getUnresolved`,
// `scheduledMaintenances.getAll`, `getActive`, `getUpcoming`). The five `subscribers.*`
// methods are called too and reported apart: the client sends them as
// `GET /api/v2/subscribers.json?subscriber[...]` (and `DELETE /api/v2/incidents.json`),
// which is no Statuspage public endpoint; siaga subscribes people through its page form.
import { Statuspage } from "statuspage.io";

const [base, pageId = "siaga"] = process.argv.slice(2);
if (!base) {
  console.error("usage: node client.mjs <base URL> [page id]");
  process.exit(2);
}

const sp = new Statuspage(pageId);
sp.setApiUrl(base.replace(/\/+$/, ""));

// Every request the client makes, with the answer's status, so a report says which URL a
// method really asked for (the client maps some methods to another method's endpoint).
let requests = [];
sp.apiClient.interceptors.request.use((config) => {
  requests.push({ method: (config.method || "get").toUpperCase(), url: sp.apiClient.getUri(config), status: null });
  return config;
});
const settle = (status) => {
  const last = requests[requests.length - 1];
  if (last) last.status = status;
};
sp.apiClient.interceptors.response.use(
  (r) => (settle(r.status), r),
  (e) => (settle(e.response ? e.response.status : null), Promise.reject(e)),
);

// The result types the client declares (node_modules/statuspage.io/dist/interfaces/Result.d.ts),
// as field -> allowed JS types or enum values. Every object the client returns is checked
// against them: a field missing, null where it may not be, or outside its vocabulary.
const STR = ["string"], STR_NULL = ["string", "null"];
const INCIDENT_STATUS = ["investigating", "identified", "monitoring", "resolved", "postmortem"];
const SHAPES = {
  page: { id: STR, name: STR, time_zone: STR, updated_at: STR, url: STR },
  status: { description: STR, indicator: ["none", "minor", "major", "critical", "maintenance"] },
  component: {
    created_at: STR, description: STR_NULL, group: ["boolean"], group_id: STR_NULL, id: STR,
    name: STR, only_show_if_degraded: ["boolean"], page_id: STR, position: ["number"],
    showcase: ["boolean"], start_date: STR_NULL,
    status: ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"],
    updated_at: STR,
  },
  incident: {
    created_at: STR, id: STR, impact: ["none", "minor", "major", "critical"], incident_updates: ["array"],
    monitoring_at: STR_NULL, name: STR, page_id: STR, resolved_at: STR_NULL, shortlink: STR,
    status: INCIDENT_STATUS, updated_at: STR,
  },
  maintenance_extra: {
    scheduled_for: STR, scheduled_until: STR, status: ["scheduled", "in_progress", "verifying", "completed"],
  },
  update: {
    body: STR, created_at: STR, display_at: STR, id: STR, incident_id: STR, status: INCIDENT_STATUS, updated_at: STR,
  },
};
function kind(v) {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}
function checkShape(obj, shape, where, errors) {
  for (const [field, allowed] of Object.entries(shape)) {
    const v = obj === null || typeof obj !== "object" ? undefined : obj[field];
    if (v === undefined) errors.push(`${where}.${field} missing`);
    else if (!allowed.includes(kind(v)) && !(typeof v === "string" && allowed.includes(v)))
      errors.push(`${where}.${field} = ${JSON.stringify(v)}, expected ${allowed.join(" | ")}`);
  }
}
function shapeErrors(data) {
  const errors = [];
  checkShape(data && data.page, SHAPES.page, "page", errors);
  if (data && "status" in data) checkShape(data.status, SHAPES.status, "status", errors);
  (data.components || []).forEach((c, i) => checkShape(c, SHAPES.component, `components[${i}]`, errors));
  const updates = (list, where, shape = SHAPES.update) =>
    (list || []).forEach((u, j) => checkShape(u, shape, `${where}.incident_updates[${j}]`, errors));
  (data.incidents || []).forEach((x, i) => {
    checkShape(x, SHAPES.incident, `incidents[${i}]`, errors);
    updates(x.incident_updates, `incidents[${i}]`);
  });
  (data.scheduled_maintenances || []).forEach((m, i) => {
    // Statuspage itself gives maintenances `impact: "maintenance"` and their updates the
    // maintenance statuses (scheduled, in_progress, verifying, completed), which the
    // client's types (Omit<Incident, "status">, IncidentUpdate) leave out: accepted here.
    const { status, impact, ...rest } = SHAPES.incident;
    const shape = { ...rest, impact: [...impact, "maintenance"], ...SHAPES.maintenance_extra };
    checkShape(m, shape, `scheduled_maintenances[${i}]`, errors);
    const update = { ...SHAPES.update, status: [...INCIDENT_STATUS, ...SHAPES.maintenance_extra.status] };
    updates(m.incident_updates, `scheduled_maintenances[${i}]`, update);
  });
  return errors;
}

async function call(fn) {
  requests = [];
  try {
    const data = await fn();
    return { ok: true, requests, data, shape_errors: shapeErrors(data) };
  } catch (e) {
    const status = e.response ? e.response.status : null;
    return { ok: false, requests, error: `${e.message}${status ? ` (HTTP ${status})` : ""}` };
  }
}

const reads = {
  getSummary: () => sp.api.getSummary(),
  getStatus: () => sp.api.getStatus(),
  getComponents: () => sp.api.getComponents(),
  "incidents.getAll": () => sp.api.incidents.getAll(),
  "incidents.getUnresolved": () => sp.api.incidents.getUnresolved(),
  "scheduledMaintenances.getAll": () => sp.api.scheduledMaintenances.getAll(),
  "scheduledMaintenances.getActive": () => sp.api.scheduledMaintenances.getActive(),
  "scheduledMaintenances.getUpcoming": () => sp.api.scheduledMaintenances.getUpcoming(),
};
const subscribers = {
  "subscribers.createPageSubscription": () =>
    sp.api.subscribers.createPageSubscription({ email: "pembeli@konter.example" }),
  "subscribers.createIncidentSubscription": () =>
    sp.api.subscribers.createIncidentSubscription({ email: "pembeli@konter.example", incident: "1" }),
  "subscribers.createComponentSubscription": () =>
    sp.api.subscribers.createComponentSubscription({ email: "pembeli@konter.example", components: ["x"] }),
  "subscribers.getSubscription": () => sp.api.subscribers.getSubscription("1"),
  "subscribers.removeSubscription": () => sp.api.subscribers.removeSubscription("1"),
};

const calls = {};
for (const [name, fn] of Object.entries(reads)) calls[name] = await call(fn);
const subscriber_calls = {};
for (const [name, fn] of Object.entries(subscribers)) {
  const r = await call(fn);
  delete r.data;
  subscriber_calls[name] = r;
}
console.log(JSON.stringify({ base, page_id: pageId, calls, subscriber_calls }));
