// A small Fedify server that Canopy's test suite runs as a strict peer (tests/api/fedify.rs).
//
//   node peer.mjs [--port N] [--software NAME] [--allow-private all|documents] [--hosts JSON]
//
// It serves one user, `alice`, at http://localhost:PORT/users/alice (a Person with an RSA and an
// Ed25519 key, a personal inbox, the shared inbox /inbox and a followers collection), and NodeInfo
// naming the software NAME (default "fedify-peer"). Port 0 (the default) takes a free port.
//
// Everything the test reads is one JSON object per line on stdout:
//   {"event":"listening","port":N,"origin":"http://localhost:N"}
//   {"event":"received","type":"Accept","id":...,"actor":...,"inbox":"personal"|"shared",...}
//   {"event":"accepted","follow":...,"by":...}      an Accept of a Follow alice sent
//   {"event":"object","activity":...,"id":...,"type":"Page"}  what an Announce pointed at
//   {"event":"rejected","status":401,"path":...,"body":...}   a request the peer refused (4xx)
//   {"event":"log","category":...,"message":...}   Fedify's own account of signature checks
//   {"event":"followed","follow":...,"target":...} / {"event":"follow_failed","error":...}
//
// Control, on the same server: `POST /_control/follow` with `{"actor": URL}` makes alice send a
// Follow to that actor and answers `{"follow": ID}` once it was delivered.
//
// --hosts '{"alpha.test":"127.0.0.1"}' answers for chosen host names before DNS, for every request
// the peer makes (Fedify's fetches and deliveries go through Node's fetch, whose global dispatcher
// gets this table), so the peer reaches nodes that run under test host names the way Canopy's own
// `hosts` setting lets them reach each other. Names not in the table go to DNS as usual.
//
// Fedify refuses private and loopback addresses by default; this peer allows them because it only
// ever talks to nodes on the same machine. It is a test peer and nothing else. How it allows them
// matters, because Fedify fetches the key of a request to a *personal* inbox with a second,
// signed document loader (signed as the recipient), and the key of a request to the shared inbox
// with the plain one:
//   --allow-private all        (default) `allowPrivateAddress: true`, which both loaders follow;
//   --allow-private documents  only the plain loader allows them (a `documentLoaderFactory` of
//                              its own), so every key fetch for a personal inbox is refused and
//                              each delivery there fails with 401 "Failed to verify the request
//                              signature" while the shared inbox verifies: the set-up that made
//                              Canopy's Accepts look unverifiable (docs/INTEROP.md).

import dns from "node:dns";
import http from "node:http";
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { configure } from "@logtape/logtape";
import {
  Accept,
  Activity,
  Announce,
  Create,
  Endpoints,
  Follow,
  MemoryKvStore,
  Person,
  createFederation,
  generateCryptoKeyPair,
} from "@fedify/fedify";
import { getDocumentLoader } from "@fedify/fedify/runtime";
import { Agent, setGlobalDispatcher } from "undici";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    software: { type: "string", default: "fedify-peer" },
    "allow-private": { type: "string", default: "all" },
    hosts: { type: "string", default: "{}" },
  },
});
if (!["all", "documents"].includes(args["allow-private"])) {
  process.stderr.write(`--allow-private must be "all" or "documents"\n`);
  process.exit(2);
}

/** Host name (lower case) → IP address, consulted before DNS. */
const hosts = new Map();
try {
  for (const [name, address] of Object.entries(JSON.parse(args.hosts))) {
    if (isIP(String(address)) === 0) throw new Error(`${JSON.stringify(address)} is not an IP address`);
    hosts.set(name.toLowerCase(), String(address));
  }
} catch (error) {
  process.stderr.write(`--hosts must be a JSON object of host names to IP addresses: ${error.message}\n`);
  process.exit(2);
}

/** A `lookup` for sockets (dns.lookup's signature) that answers from `hosts` first. */
function lookupWithHosts(hostname, options, callback) {
  const address = hosts.get(hostname.toLowerCase());
  if (address === undefined) return dns.lookup(hostname, options, callback);
  const family = isIP(address);
  if (options?.all) callback(null, [{ address, family }]);
  else callback(null, address, family);
}

if (hosts.size > 0) {
  setGlobalDispatcher(new Agent({ connect: { lookup: lookupWithHosts } }));
}

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

// Fedify explains why it refused a signature only in its logs: pass the signature and inbox
// records on as events, and anything else that is a warning or worse to stderr.
function fedifySink(record) {
  const category = record.category.join(".");
  const message = record.message
    .map((part) => (typeof part === "string" ? part : JSON.stringify(part)))
    .join("");
  if (category.startsWith("fedify.sig") || category === "fedify.federation.inbox") {
    emit({ event: "log", category, level: record.level, message });
  } else if (record.level === "warning" || record.level === "error" || record.level === "fatal") {
    process.stderr.write(`${record.level} ${category}: ${message}\n`);
  }
}

await configure({
  sinks: { peer: fedifySink },
  loggers: [
    { category: "fedify", sinks: ["peer"], lowestLevel: "debug" },
    { category: ["logtape", "meta"], sinks: [], lowestLevel: "fatal" },
  ],
});

const USER = "alice";
const keyPairs = [
  await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"),
  await generateCryptoKeyPair("Ed25519"),
];
/** Actors following alice (by id), and the ids of the Follows alice sent. */
const followers = new Map();
const sentFollows = new Set();

const federation = createFederation(
  args["allow-private"] === "all"
    ? { kv: new MemoryKvStore(), allowPrivateAddress: true }
    : {
        kv: new MemoryKvStore(),
        documentLoaderFactory: () => getDocumentLoader({ allowPrivateAddress: true }),
      },
);

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== USER) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Alice (Fedify test peer)",
      url: ctx.getActorUri(identifier),
      inbox: ctx.getInboxUri(identifier),
      outbox: ctx.getOutboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      followers: ctx.getFollowersUri(identifier),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher((_ctx, identifier) => (identifier === USER ? keyPairs : []));

federation.setOutboxDispatcher("/users/{identifier}/outbox", () => ({ items: [] }));

federation.setFollowersDispatcher("/users/{identifier}/followers", (_ctx, identifier) => {
  if (identifier !== USER) return null;
  return {
    items: [...followers.values()].map((f) => ({ id: new URL(f.id), inboxId: new URL(f.inbox) })),
  };
});

federation.setNodeInfoDispatcher("/nodeinfo/2.1", () => ({
  software: { name: args.software, version: { major: 1, minor: 0, patch: 0 } },
  protocols: ["activitypub"],
  usage: { users: { total: 1 }, localPosts: 0, localComments: 0 },
}));

function received(ctx, activity, extra = {}) {
  emit({
    event: "received",
    type: activity.constructor.name,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    object: activity.objectId?.href ?? null,
    inbox: ctx.recipient == null ? "shared" : "personal",
    recipient: ctx.recipient,
    ...extra,
  });
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, (ctx, accept) => {
    // The Follow is named by its id (embedded or not); it must be one alice sent.
    const followId = accept.objectId?.href ?? null;
    received(ctx, accept, { follow: followId });
    if (followId != null && sentFollows.has(followId)) {
      emit({ event: "accepted", follow: followId, by: accept.actorId?.href ?? null });
    }
  })
  .on(Announce, async (ctx, announce) => {
    received(ctx, announce);
    // What a timeline would show: the announced object, fetched from its id when only named.
    try {
      const object = await announce.getObject();
      emit({
        event: "object",
        activity: announce.id?.href ?? null,
        id: object?.id?.href ?? null,
        type: object?.constructor.name ?? null,
      });
    } catch (error) {
      emit({ event: "object_failed", activity: announce.id?.href ?? null, error: String(error) });
    }
  })
  .on(Create, (ctx, create) => received(ctx, create))
  .on(Follow, async (ctx, follow) => {
    received(ctx, follow);
    const follower = await follow.getActor();
    if (follower?.id == null || follower.inboxId == null) return;
    followers.set(follower.id.href, { id: follower.id.href, inbox: follower.inboxId.href });
    await ctx.sendActivity(
      { identifier: USER },
      follower,
      new Accept({
        id: new URL(`#accepts/${crypto.randomUUID()}`, ctx.getActorUri(USER)),
        actor: ctx.getActorUri(USER),
        object: follow,
      }),
    );
  })
  .on(Activity, (ctx, activity) => received(ctx, activity))
  .onError((_ctx, error) => emit({ event: "inbox_error", error: String(error) }));

/** Alice follows the actor at `actorUrl`; returns the Follow's id once it was delivered. */
async function follow(actorUrl) {
  const ctx = federation.createContext(new URL(origin), undefined);
  const target = await ctx.lookupObject(actorUrl);
  if (target?.id == null || target.inboxId == null) {
    throw new Error(`${actorUrl} is not an actor with an inbox`);
  }
  const id = new URL(`/follows/${crypto.randomUUID()}`, origin);
  sentFollows.add(id.href);
  await ctx.sendActivity(
    { identifier: USER },
    target,
    new Follow({ id, actor: ctx.getActorUri(USER), object: target.id }),
  );
  emit({ event: "followed", follow: id.href, target: target.id.href });
  return id.href;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function control(req, res, body) {
  if (req.method === "POST" && req.url === "/_control/follow") {
    try {
      const { actor } = JSON.parse(body.toString("utf8"));
      const id = await follow(actor);
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ follow: id }));
    } catch (error) {
      emit({ event: "follow_failed", error: String(error) });
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: String(error) }));
    }
    return;
  }
  res.writeHead(404).end();
}

let origin = "";

const server = http.createServer(async (req, res) => {
  try {
    const body = await readBody(req);
    if (req.url.startsWith("/_control/")) return await control(req, res, body);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    const request = new Request(new URL(req.url, origin), {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
    });
    const response = await federation.fetch(request, { contextData: undefined });
    const text = Buffer.from(await response.arrayBuffer());
    if (response.status >= 400 && response.status < 500 && response.status !== 404) {
      emit({
        event: "rejected",
        status: response.status,
        method: req.method,
        path: req.url,
        body: text.toString("utf8"),
      });
    }
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(text);
  } catch (error) {
    emit({ event: "server_error", path: req.url, error: String(error) });
    res.writeHead(500).end();
  }
});

// Listen on loopback, but name itself by `localhost:PORT`: Canopy refuses actor ids whose host is
// an IP address, and the port alone keeps the peer's authority apart from Canopy's.
server.listen(Number(args.port), "127.0.0.1", () => {
  const { port } = server.address();
  origin = `http://localhost:${port}`;
  emit({ event: "listening", port, origin });
});

// The test closes stdin (or dies) when it is done: leave with it.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
