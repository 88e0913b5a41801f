/*
 * meta-fuse dashboard: reads the JSON API like any client and refreshes itself
 * every few seconds without reloading the page.  Every value from the API is
 * put into the page as text (textContent), never as markup.
 */
"use strict";

const REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
	const e = document.createElement(tag);
	if (text !== undefined && text !== null) e.textContent = String(text);
	if (cls) e.className = cls;
	return e;
}

function fmtBytes(n) {
	const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
	return (i ? n.toFixed(n < 10 ? 2 : 1) : n) + " " + units[i];
}

function fmtNum(n) {
	return Number(n).toLocaleString("en-US");
}

function fmtDuration(s) {
	if (s === null || s === undefined) return "–";
	s = Math.max(0, Math.round(s));
	if (s < 60) return s + " s";
	if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
	if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
	return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

async function api(path, body) {
	const opt = body === undefined ? {} : {
		method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
	};
	const r = await fetch(path, opt);
	let data = null;
	try { data = await r.json(); } catch (e) { data = {error: "not JSON (" + r.status + ")"}; }
	return {status: r.status, ok: r.ok, data};
}

function fillTable(id, rows, empty) {
	const body = $(id).tBodies[0];
	body.replaceChildren();
	if (!rows.length) {
		const tr = el("tr");
		const td = el("td", empty, "muted");
		td.colSpan = $(id).tHead.rows[0].cells.length;
		tr.append(td);
		body.append(tr);
		return;
	}
	for (const cells of rows) {
		const tr = el("tr");
		for (const c of cells) tr.append(el("td", c));
		body.append(tr);
	}
}

function renderStats(s) {
	$("files").textContent = fmtNum(s.totalFiles);
	$("directories").textContent = fmtNum(s.totalDirectories);
	$("size").textContent = fmtBytes(s.totalSize);
	$("size").title = fmtNum(s.totalSize) + " bytes";
	$("generation").textContent = s.generation;
	$("age").textContent = s.snapshotAgeSeconds === null ? "no snapshot yet"
		: "built " + fmtDuration(s.snapshotAgeSeconds) + " ago";
	const kv = $("kv");
	kv.textContent = s.kvConnection;
	kv.className = "value state " + (s.kvConnection === "connected" ? "ok" : "bad");
	$("leader").textContent = s.kvError ? s.kvError : (s.kvLeader || "");
	const fuse = $("fuse");
	fuse.textContent = s.fuseMount;
	fuse.className = "value state " + (s.fuseMount === "mounted" ? "ok" : "");
	$("lastsync").textContent = s.lastSync ? "last sync " + new Date(s.lastSync).toLocaleString()
		: "never synced";
	$("skipped").textContent = "(" + fmtNum(s.skipped) + ")";
	$("hidden").textContent = "(" + fmtNum(s.hidden) + ")";

	const held = $("held");
	held.hidden = !s.removalHeld;
	if (s.removalHeld)
		held.textContent = "A change that would remove " + fmtNum(s.heldRemovals) +
			" files is held back: the previous tree is served until it is confirmed " +
			"(kill -USR1 kvwatch) or persists past kv.hold_time_ms.";

	const chart = $("chart");
	chart.replaceChildren();
	const cats = Object.entries(s.categories || {});
	const max = Math.max(1, ...cats.map(([, n]) => n));
	if (!cats.length) chart.append(el("div", "no files yet", "muted"));
	for (const [name, n] of cats) {
		const row = el("div", null, "row");
		const bar = el("div", null, "bar");
		bar.style.width = (100 * n / max).toFixed(1) + "%";
		const track = el("div");
		track.append(bar);
		row.append(el("div", name), track, el("div", fmtNum(n), "num"));
		row.title = name + ": " + fmtNum(n) + " files, " + fmtBytes((s.categorySizes || {})[name] || 0);
		chart.append(row);
	}
	fillTable("skips", (s.skipReasons || []).map((r) => [r.reason, fmtNum(r.count), r.example]),
		"none");
	fillTable("hides", (s.hiddenByRule || []).map((r) => [r.rule, fmtNum(r.count)]), "none");
}

function renderWorkers(res) {
	if (!res.ok) {
		$("workers-note").textContent = res.data.error || "unavailable";
		fillTable("workers", [], "no supervisor status");
		return;
	}
	$("workers-note").textContent = "";
	const now = Date.now();
	fillTable("workers", (res.data.workers || []).map((w) => [
		w.name, w.state + (w.reason ? " (" + w.reason + ")" : ""), w.pid || "–",
		w.pid && w.since ? fmtDuration((now - w.since) / 1000) : "–", w.restarts ?? 0
	]), "no workers");
}

async function refresh() {
	try {
		const [health, stats, workers] = await Promise.all([
			api("/api/fuse/health"), api("/api/fuse/stats"), api("/api/fuse/workers")
		]);
		const h = $("health");
		h.textContent = health.ok ? "healthy" : (health.data.error || "unhealthy");
		h.className = "pill " + (health.ok ? "ok" : "bad");
		if (stats.ok) renderStats(stats.data);
		renderWorkers(workers);
		$("updated").textContent = "updated " + new Date().toLocaleTimeString();
	} catch (e) {
		$("health").textContent = "API unreachable";
		$("health").className = "pill bad";
	}
}

async function showFile(path) {
	const d = $("detail");
	let r = await api("/api/fuse/metadata", {path});
	let note = "";
	if (r.status === 503 || r.status === 429) {
		/* The store cannot be read now: what the snapshot carries. */
		note = r.data.error + "; showing the properties the snapshot carries";
		r = await api("/api/fuse/metadata", {path, source: "snapshot"});
	}
	d.hidden = false;
	d.replaceChildren();
	if (!r.ok) {
		d.append(el("div", r.data.error, "err"));
		return;
	}
	d.append(el("h3", r.data.path));
	if (note) d.append(el("div", note, "warn"));
	const dl = el("dl");
	const add = (k, v) => dl.append(el("dt", k), el("dd", v));
	add("source", r.data.sourcePath);
	add("rule", r.data.rule);
	add("hash id", r.data.hashId);
	for (const [k, v] of Object.entries(r.data.metadata || {})) add(k, v);
	d.append(dl);
}

async function search(ev) {
	if (ev) ev.preventDefault();
	const q = $("q").value.trim();
	const list = $("results");
	list.replaceChildren();
	$("detail").hidden = true;
	if (!q) return;
	const r = await api("/api/fuse/files?limit=50&q=" + encodeURIComponent(q));
	if (!r.ok) {
		$("results-note").textContent = r.data.error;
		return;
	}
	$("results-note").textContent = fmtNum(r.data.total) + " match" +
		(r.data.total === 1 ? "" : "es") + (r.data.total > 50 ? ", first 50 shown" : "");
	for (const f of r.data.files) {
		const li = el("li");
		li.append(el("span", fmtBytes(f.size), "size"), el("span", f.path));
		li.addEventListener("click", () => showFile(f.path));
		list.append(li);
	}
}

async function loadRules() {
	const r = await api("/api/fuse/rules");
	if (!r.ok) return;
	$("rules-source").textContent = "(" + r.data.source + ")";
	fillTable("rules-table", r.data.rules.map((x) => [
		x.name + (x.enabled ? "" : " (disabled)"), x.priority,
		x.hide ? "hidden" : x.template, fmtNum(x.files ?? 0), fmtNum(x.hidden ?? 0)
	]), "no rules");
	/* The preview starts from the rules in force, ready to be edited. */
	if (!$("rules-json").value)
		$("rules-json").value = JSON.stringify(r.data.rules.map((x) => {
			const rule = {name: x.name, priority: x.priority, enabled: x.enabled};
			if (x.description) rule.description = x.description;
			if (x.when) rule.when = x.when;
			if (x.hide) rule.hide = true;
			else rule.template = x.template;
			return rule;
		}), null, 1);
}

function parseJson(id, out) {
	try {
		return JSON.parse($(id).value);
	} catch (e) {
		out.replaceChildren(el("div", id + ": " + e.message, "err"));
		return undefined;
	}
}

async function validate() {
	const out = $("validate-out");
	const rule = parseJson("rule-json", out);
	const metadata = rule === undefined ? undefined : parseJson("meta-json", out);
	if (metadata === undefined) return;
	const r = await api("/api/fuse/rules/validate", {rule, metadata});
	out.replaceChildren();
	if (!r.ok) {
		out.append(el("div", r.data.error, "err"));
		return;
	}
	for (const e of r.data.errors)
		out.append(el("div", e.message + (e.column ? " (column " + e.column + ")" : ""), "err"));
	for (const w of r.data.warnings) out.append(el("div", "warning: " + w, "warn"));
	if (r.data.valid)
		out.append(el("div", r.data.result === "placed" ? "→ " + r.data.path
			: "result: " + (r.data.result || "not rendered")));
}

async function preview() {
	const out = $("preview-out");
	const rules = parseJson("rules-json", out);
	if (rules === undefined) return;
	out.replaceChildren(el("div", "computing…", "muted"));
	const r = await api("/api/fuse/rules/preview", {rules, sample: 50});
	out.replaceChildren();
	if (!r.ok) {
		out.append(el("div", r.data.error, "err"));
		return;
	}
	const p = r.data;
	out.append(el("div", fmtNum(p.files) + " files: " + fmtNum(p.unchanged) + " stay, " +
		fmtNum(p.moved) + " move, " + fmtNum(p.removed) + " leave the tree (" +
		fmtNum(p.hidden) + " hidden, " + fmtNum(p.skipped) + " skipped), " +
		fmtNum(p.collisions) + " name collisions"));
	if (p.unknownProperties.length)
		out.append(el("div", "not in the snapshot (treated as absent): " +
			p.unknownProperties.join(", "), "warn"));
	const t = el("table");
	t.append(el("thead"));
	t.tHead.append(el("tr"));
	for (const h of ["Rule", "Files", "Hidden"]) t.tHead.rows[0].append(el("th", h));
	const tb = el("tbody");
	for (const x of p.rules) {
		const tr = el("tr");
		tr.append(el("td", x.name), el("td", fmtNum(x.files)), el("td", fmtNum(x.hidden)));
		tb.append(tr);
	}
	t.append(tb);
	out.append(t);
	for (const m of p.sample)
		out.append(el("div", m.from + "  →  " + (m.to || "(not in the tree)"), "move"));
}

/*
 * #rules shows the rules page (#rules-try also runs its validate and preview
 * examples); #search=TEXT runs a search and #file=PATH shows a file's metadata
 * (a link can hold either).
 */
async function route() {
	const rules = location.hash.startsWith("#rules");
	if (location.hash.startsWith("#search=")) {
		$("q").value = decodeURIComponent(location.hash.slice(8));
		search();
	}
	if (location.hash.startsWith("#file=")) showFile(decodeURIComponent(location.hash.slice(6)));
	$("overview").hidden = rules;
	$("rules").hidden = !rules;
	$("tab-overview").classList.toggle("active", !rules);
	$("tab-rules").classList.toggle("active", rules);
	if (rules) await loadRules();
	if (location.hash === "#rules-try") {
		await validate();
		await preview();
	}
}

$("search").addEventListener("submit", search);
$("validate").addEventListener("click", validate);
$("preview").addEventListener("click", preview);
window.addEventListener("hashchange", route);
route();
refresh();
setInterval(refresh, REFRESH_MS);
