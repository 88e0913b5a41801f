// client.mjs URL USER PASS OUTDIR: lists the share with the npm webdav library
// (what JavaScript apps use), tries a lock, downloads one file whole and one
// range, and tries a write; prints one line per result for davd_npm.sh to check.
import { createClient } from "webdav";
import { writeFileSync } from "node:fs";

const [url, username, password, out] = process.argv.slice(2);
const client = createClient(url, { username, password });

const root = await client.getDirectoryContents("/");
console.log("root " + root.map((e) => `${e.basename}:${e.type}`).sort().join(","));
const all = await client.getDirectoryContents("/", { deep: false, details: false });
console.log("count " + all.length);
const movies = await client.getDirectoryContents("/Movies");
for (const e of movies.sort((a, b) => a.basename.localeCompare(b.basename)))
	console.log("dir " + e.basename);
const files = await client.getDirectoryContents("/Movies/Big One (2020)");
for (const f of files) console.log(`file ${f.basename} ${f.size} ${f.mime} ${f.etag}`);
const stat = await client.stat("/Movies/Big One (2020)/Big One.mkv");
console.log(`stat ${stat.size} ${stat.type} ${stat.lastmod}`);
try {
	const lock = await client.lock("/Movies/Big One (2020)/Big One.mkv");
	console.log("lock granted " + lock.token);
} catch (e) {
	console.log("lock refused " + (e.status ?? e.response?.status));
}
const body = await client.getFileContents("/Movies/Big One (2020)/Big One.mkv");
writeFileSync(out + "/whole.bin", Buffer.from(body));
const chunks = [];
for await (const c of client.createReadStream("/Movies/Big One (2020)/Big One.mkv", {
	range: { start: 100, end: 1123 },
}))
	chunks.push(c);
const part = Buffer.concat(chunks);
writeFileSync(out + "/part.bin", Buffer.from(part));
console.log("part " + Buffer.from(part).length);
try {
	await client.putFileContents("/Movies/new.txt", "x");
	console.log("put succeeded");
} catch (e) {
	console.log("put refused " + (e.status ?? e.response?.status));
}
console.log("exists " + (await client.exists("/Movies/nothing")));
