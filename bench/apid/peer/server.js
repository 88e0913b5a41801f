// The peer of bench/apid: a minimal Fastify server (the original service's
// stack) answering POST /api/fuse/getattr and GET /api/fuse/stats with the same
// shapes as meta-fuse-apid, from an in-memory Map of the same library, read
// from `meta-fuse dump` lines on standard input.
//   node server.js PORT FILES_VOLUME < dump.jsonl
"use strict";
const fastify = require("fastify")({ logger: false });
const readline = require("readline");

const port = Number(process.argv[2]);
const volume = process.argv[3];
const nodes = new Map();
const stats = { totalFiles: 0, totalDirectories: 0, totalSize: 0, categories: {} };
let header = null;

const iso = (ms) => (ms ? new Date(ms).toISOString() : null); // dump times are in ms

readline.createInterface({ input: process.stdin }).on("line", (line) => {
	const o = JSON.parse(line);
	if (!header) {
		header = o;
		return;
	}
	nodes.set(o.path, o);
	if (o.type === "file") {
		stats.totalFiles++;
		stats.totalSize += o.size;
		const cat = o.path.split("/")[1];
		stats.categories[cat] = (stats.categories[cat] || 0) + 1;
	} else {
		stats.totalDirectories++;
	}
}).on("close", () => {
	fastify.post("/api/fuse/getattr", async (req, reply) => {
		const path = req.body && req.body.path;
		if (typeof path !== "string") return reply.code(400).send({ error: "missing path" });
		const n = nodes.get(path);
		if (!n) return reply.code(404).send({ error: "no such file or directory: " + path });
		const dir = n.type === "dir";
		const r = {
			size: n.size, mode: dir ? "directory" : "file", permissions: dir ? 755 : 644,
			uid: 1000, gid: 1000, atime: iso(n.mtime), mtime: iso(n.mtime), ctime: iso(n.mtime),
			id: String(n.id),
		};
		if (!dir) {
			r.sourcePath = volume + "/" + n.source;
			r.hashId = n.hashId;
		}
		return r;
	});
	fastify.get("/api/fuse/stats", async () => ({
		...stats, kvConnection: "connected", fuseMount: "unmounted",
		generation: header.generation, skipped: header.skipped,
	}));
	fastify.listen({ port, host: "127.0.0.1" }).then(() => console.log("ready"));
});
