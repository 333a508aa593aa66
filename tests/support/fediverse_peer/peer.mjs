// A real ActivityPub server for Quire's federation tests: Fedify, on
// 127.0.0.1 over plain HTTP, with one local actor, alice, and a JSON control
// API under /control/ that makes alice act (follow, reply, like, announce…)
// and tells what her inbox received. See README.md beside this file.
//
// Run with Node 22 or newer:  PEER_PORT=0 node peer.mjs
// It prints exactly one line to stdout, "listening on 127.0.0.1:PORT", once
// it serves; everything else goes to stderr.

import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import http from "node:http";
import process from "node:process";

import {
  createFederation,
  generateCryptoKeyPair,
  MemoryKvStore,
  signRequest,
} from "@fedify/fedify";
import {
  Accept,
  Activity,
  Announce,
  Create,
  Delete,
  Endpoints,
  Follow,
  Image,
  isActor,
  Like,
  Move,
  Note,
  Object as APObject,
  PUBLIC_COLLECTION,
  Person,
  Reject,
  Tombstone,
  Undo,
  Update,
} from "@fedify/vocab";
import { configure, defaultTextFormatter } from "@logtape/logtape";
import { Temporal } from "@js-temporal/polyfill";

const env = (name, fallback) => process.env[name] ?? fallback;
const flag = (name, fallback) => !["0", "false", "no", ""].includes(env(name, fallback).toLowerCase());

const PORT = Number(env("PEER_PORT", "0"));
// Fedify's own default is "rfc9421" (then draft-cavage if refused).
const FIRST_KNOCK = env("PEER_FIRST_KNOCK", "rfc9421");
// Answer Follows of alice with an Accept by itself (as Mastodon does for an
// unlocked account). 0: keep them pending for /control/accept or /reject.
const AUTO_ACCEPT = flag("PEER_AUTO_ACCEPT", "1");
// Give alice an Ed25519 key too: Fedify then adds an Object Integrity Proof
// (FEP-8b32) to what she sends, and her actor lists it in assertionMethod.
const ED25519 = flag("PEER_ED25519", "0");
// Sign the GETs alice makes (actors, objects), as Mastodon's secure mode does.
const SIGNED_FETCH = flag("PEER_SIGNED_FETCH", "0");
// Keep Fedify's caches of remote documents (5 min) and public keys. Off, every
// lookup and every signature check fetches afresh: tests see what the server
// under test serves now.
const CACHE = flag("PEER_CACHE", "0");
// Level of Fedify's log lines on stderr: debug, info, warning, error.
const LOG_LEVEL = env("PEER_LOG_LEVEL", "warning");
// One stderr line per HTTP request served.
const LOG_REQUESTS = flag("PEER_LOG_REQUESTS", "1");
const CONTROL_TIMEOUT_MS = Number(env("PEER_CONTROL_TIMEOUT_MS", "30000"));

const USER = "alice";
// A second actor, for moves: alice can move to bob (or bob to alice).
const ACTORS = new Set([USER, "bob"]);
const NAMES = { alice: "Alice (Fedify test peer)", bob: "Bob (Fedify test peer)" };
// Two avatars, PNGs of one color each: /control/profile switches alice's.
const AVATARS = {
  "alice.png": "iVBORw0KGgoAAAANSUhEUgAAADAAAAAwCAIAAADYYG7QAAAAQklEQVR4nO3OQQ0AIAwAsQlDCYqRhQuOR5MK6Jy1vzL5QEhISKgeCAkJCdUDISEhoXogJCQkVA+EhISE6oGQkNBjFxb+TrVfhUgiAAAAAElFTkSuQmCC",
  "alice-2.png": "iVBORw0KGgoAAAANSUhEUgAAADAAAAAwCAIAAADYYG7QAAAAQklEQVR4nO3OQQ0AIAwAsclBIhKRhQuOR5MK6Kx9vjL5QEhISKgeCAkJCdUDISEhoXogJCQkVA+EhISE6oGQkNBjF1AgqLXTxAQaAAAAAElFTkSuQmCC",
};
let origin = null; // http://127.0.0.1:PORT, once listening
const started = Temporal.Now.instant();
const LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"];

function say(...parts) {
  process.stderr.write(`peer ${origin ?? "(starting)"}: ${parts.join(" ")}\n`);
}

// --- Logging ---------------------------------------------------------------
// Fedify logs through LogTape. Lines at PEER_LOG_LEVEL or above go to stderr;
// every line (down to debug) logged while an inbox request is handled is kept
// with that request (AsyncLocalStorage), so /control/inbox-log can say why
// Fedify refused a delivery (e.g. "Failed to verify; digest mismatch").
const requestStore = new AsyncLocalStorage();
await configure({
  contextLocalStorage: new AsyncLocalStorage(),
  sinks: {
    stderr(record) {
      if (LEVELS.indexOf(record.level) >= LEVELS.indexOf(LOG_LEVEL) && !(LOG_LEVEL !== "debug" && isExpected(record))) {
        process.stderr.write(`peer ${origin ?? ""}: ${defaultTextFormatter(record)}`);
      }
    },
    capture(record) {
      const store = requestStore.getStore();
      if (store == null) return;
      const text = record.message
        .map((part, i) => (i % 2 === 0 ? part : typeof part === "string" ? part : safeJson(part)))
        .join("");
      store.fedify.push(`${record.level} ${record.category.join("·")}: ${text.slice(0, 2000)}`);
    },
  },
  loggers: [
    { category: "fedify", sinks: ["stderr", "capture"], lowestLevel: "debug" },
    { category: ["logtape", "meta"], sinks: ["stderr"], lowestLevel: "warning" },
  ],
});

// Warnings that are how this peer is meant to be: RSA only, no queue.
function isExpected(record) {
  const text = record.rawMessage;
  return typeof text === "string" && (
    text.startsWith("No supported key found to create a proof") ||
    text.startsWith("No supported key found to create a Linked Data signature")
  );
}

// An error's message with its causes: "fetch failed: connect ECONNREFUSED …".
function describe(error) {
  const parts = [];
  for (let e = error; e != null && parts.length < 5; e = e.cause) {
    const text = e instanceof Error ? e.message : String(e);
    if (!parts.includes(text)) parts.push(text);
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ");
}

function safeJson(value) {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (value instanceof URL) return value.href;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

// --- State ------------------------------------------------------------------
const received = []; // activities delivered to alice (or the shared inbox)
const inboxLog = []; // every POST to an inbox, with Fedify's answer and why
const followers = new Map(); // actor id -> { id, inboxId, endpoints }
const followerFollows = new Map(); // Follow id -> actor id, for follows of alice
const pendingFollowRequests = new Map(); // Follow id -> Follow (PEER_AUTO_ACCEPT=0)
const following = new Map(); // actor id -> { state, follow_id, inbox }
const sent = new Map(); // activity id -> { activity, json, to_actor }
const notes = new Map(); // note path id -> Note
const deletedNotes = new Map(); // note path id -> deleted time (ISO)
const backgroundErrors = []; // failures of the auto-Accept and the like
const aliasesOf = new Map(); // actor identifier -> [actor URL] (alsoKnownAs)
const successorOf = new Map(); // actor identifier -> actor URL (movedTo)
let aliceAvatar = "alice.png"; // served at /avatars/NAME

// --- Keys -----------------------------------------------------------------------
// RSASSA-PKCS1-v1_5 first: that key is alice's publicKey (#main-key) and signs
// HTTP requests (the only type Mastodon-style servers verify).
// 2048 bits as Mastodon's (Fedify's generateCryptoKeyPair makes 4096: ten
// times slower to make).
const keyPairs = [
  await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: Number(env("PEER_RSA_BITS", "2048")),
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  ),
];
if (ED25519) keyPairs.push(await generateCryptoKeyPair("Ed25519"));

// --- The KV store -----------------------------------------------------------
// MemoryKvStore; without PEER_CACHE, what Fedify would cache about remote
// servers (documents, public keys) is not kept.
class TestKvStore extends MemoryKvStore {
  async set(key, value, options) {
    if (!CACHE && (key[1] === "remoteDocument" || key[1] === "publicKey")) return;
    return await super.set(key, value, options);
  }
}

// --- Server first: Fedify needs to know its origin -------------------------
const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    say("unexpected error:", error?.stack ?? String(error));
    if (!res.headersSent) {
      res.writeHead(500, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: String(error?.message ?? error) }));
    } else {
      res.destroy();
    }
  });
});
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(PORT, "127.0.0.1", resolve);
});
origin = `http://127.0.0.1:${server.address().port}`;

const federation = createFederation({
  kv: new TestKvStore(),
  origin,
  // Lets Fedify fetch loopback (private) addresses over http:. Required: the
  // document loader and WebFinger client refuse them otherwise.
  allowPrivateAddress: true,
  firstKnock: FIRST_KNOCK,
  // No queue: deliveries happen while the control request waits, so a
  // failure is its answer; inbox listeners run before the 202.
});

const aliceUri = () => new URL(`/users/${USER}`, origin);
const followersUri = () => new URL(`/users/${USER}/followers`, origin);
const newId = (kind) => new URL(`/activities/${kind}/${randomUUID()}`, origin);

// An actor of this peer, as its document says it now.
async function actorOf(ctx, identifier) {
  if (!ACTORS.has(identifier)) return null;
  const keys = await ctx.getActorKeyPairs(identifier);
  const successor = successorOf.get(identifier);
  return new Person({
    id: ctx.getActorUri(identifier),
    preferredUsername: identifier,
    name: NAMES[identifier],
    icon: identifier === USER
      ? new Image({ url: new URL(`/avatars/${aliceAvatar}`, origin), mediaType: "image/png" })
      : null,
    aliases: (aliasesOf.get(identifier) ?? []).map((u) => new URL(u)),
    successor: successor == null ? null : new URL(successor),
    summary: "<p>A real ActivityPub peer for Quire's tests.</p>",
    url: ctx.getActorUri(identifier),
    published: started,
    manuallyApprovesFollowers: !AUTO_ACCEPT,
    discoverable: true,
    inbox: ctx.getInboxUri(identifier),
    outbox: ctx.getOutboxUri(identifier),
    followers: ctx.getFollowersUri(identifier),
    following: ctx.getFollowingUri(identifier),
    endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
    publicKey: keys[0].cryptographicKey,
    // Every key again as a Multikey (FEP-521a), as Fedify apps publish
    // them (Mastodon has publicKey only).
    assertionMethods: keys.map((k) => k.multikey),
  });
}

federation
  .setActorDispatcher("/users/{identifier}", actorOf)
  // bob shares alice's keys (under his own key id): only signatures matter.
  .setKeyPairsDispatcher((_ctx, identifier) => (ACTORS.has(identifier) ? keyPairs : []))
  .mapHandle((_ctx, username) => (ACTORS.has(username) ? username : null));

federation.setOutboxDispatcher("/users/{identifier}/outbox", (_ctx, identifier) => {
  if (identifier !== USER) return null;
  const items = [...sent.values()]
    .filter((s) => s.activity instanceof Create || s.activity instanceof Announce)
    .map((s) => s.activity)
    .reverse();
  return { items };
});

federation.setFollowersDispatcher("/users/{identifier}/followers", (_ctx, identifier) => {
  if (identifier !== USER) return null;
  return { items: [...followers.values()] };
});

federation.setFollowingDispatcher("/users/{identifier}/following", (_ctx, identifier) => {
  if (identifier !== USER) return null;
  const items = [...following.entries()]
    .filter(([, f]) => f.state === "accepted")
    .map(([id]) => new URL(id));
  return { items };
});

federation.setObjectDispatcher(Note, "/notes/{id}", (_ctx, { id }) => notes.get(id) ?? null);

// --- Inbox ------------------------------------------------------------------
async function record(ctx, activity) {
  // Compacted JSON-LD, as Fedify understood it; the object as sent (embedded,
  // or its id): nothing is fetched.
  const json = await activity.toJsonLd({ format: "compact", contextLoader: ctx.contextLoader });
  const data = ctx.data ?? {};
  let raw = null;
  try {
    raw = data.body == null ? null : JSON.parse(data.body);
  } catch {
    raw = data.body;
  }
  const entry = {
    type: activity.constructor.name,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    object: json.object ?? null,
    object_id: activity.objectId?.href ?? null,
    activity: json,
    raw,
    inbox: ctx.recipient == null ? "shared" : ctx.recipient,
    signature: data.signature ?? null,
    verified_by: verifiedBy(),
    received_at: new Date().toISOString(),
  };
  received.push(entry);
  say(`received ${entry.type} ${entry.id} from ${entry.actor} (${entry.inbox} inbox)`);
  return entry;
}

// How Fedify authenticated the activity being handled, from what it logged:
// it tries a Linked Data Signature first, then an Object Integrity Proof,
// and only then the HTTP Signature.
function verifiedBy() {
  const lines = requestStore.getStore()?.fedify ?? [];
  if (lines.some((l) => l.endsWith("Linked Data Signatures are verified."))) return "ld-signature";
  if (lines.some((l) => l.endsWith("Object Integrity Proofs are verified."))) return "object-integrity-proof";
  if (lines.some((l) => l.endsWith("HTTP Signatures are verified."))) return "http-signature";
  return null;
}

// Fetches (and keeps nothing of) an actor: its id and inboxes, for delivery.
async function actorFromActivity(ctx, activity) {
  const actor = await activity.getActor({ documentLoader: await loader(ctx), contextLoader: ctx.contextLoader });
  if (actor == null || !isActor(actor) || actor.inboxId == null) {
    throw new Error(`could not fetch the actor ${activity.actorId?.href} of ${activity.id?.href}`);
  }
  return actor;
}

function background(what, promise) {
  promise.catch((error) => {
    const message = `${what}: ${describe(error)}`;
    backgroundErrors.push({ at: new Date().toISOString(), error: message });
    say("failed:", message);
  });
}

async function answerFollow(ctx, follow, accept) {
  const follower = await actorFromActivity(ctx, follow);
  const Answer = accept ? Accept : Reject;
  const answer = new Answer({
    id: newId(accept ? "accept" : "reject"),
    actor: aliceUri(),
    to: follower.id,
    object: follow,
  });
  if (accept) {
    followers.set(follower.id.href, {
      id: follower.id,
      inboxId: follower.inboxId,
      endpoints: follower.endpoints,
    });
    if (follow.id != null) followerFollows.set(follow.id.href, follower.id.href);
  }
  await ctx.sendActivity({ identifier: USER }, follower, answer);
  remember(answer, follower.id.href);
  return answer;
}

const isAlice = (url) => url?.href === aliceUri().href;

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Follow, async (ctx, follow) => {
    await record(ctx, follow);
    if (!isAlice(follow.objectId)) return;
    if (AUTO_ACCEPT) {
      // After the 202, as Mastodon does: the follower's server need not
      // answer our Accept while its Follow is still being delivered.
      setTimeout(() => background(`Accept of ${follow.id?.href}`, answerFollow(ctx, follow, true)), 50);
    } else {
      pendingFollowRequests.set(follow.id?.href, follow);
    }
  })
  .on(Accept, async (ctx, accept) => {
    await record(ctx, accept);
    followAnswered(accept, "accepted");
  })
  .on(Reject, async (ctx, reject) => {
    await record(ctx, reject);
    followAnswered(reject, "rejected");
  })
  .on(Undo, async (ctx, undo) => {
    const entry = await record(ctx, undo);
    // Undo{Follow}, embedded or by id: the follower is gone.
    const object = entry.object;
    const followId = typeof object === "string" ? object : object?.id;
    if (
      (object?.type === "Follow" || followerFollows.has(followId) || pendingFollowRequests.has(followId)) &&
      undo.actorId != null
    ) {
      followers.delete(undo.actorId.href);
      followerFollows.delete(followId);
      pendingFollowRequests.delete(followId);
    }
  })
  .on(Create, record)
  .on(Update, record)
  .on(Delete, record)
  .on(Like, record)
  .on(Announce, record)
  .on(Activity, record) // every other type
  // Key fetches for the shared inbox are signed as alice too (as for her own
  // inbox), as a Mastodon in secure mode does.
  .setSharedKeyDispatcher(() => ({ identifier: USER }))
  .onError((_ctx, error) => say("inbox listener failed:", error?.stack ?? String(error)));

function followAnswered(answer, state) {
  const actor = answer.actorId?.href;
  const followId = answer.objectId?.href;
  for (const [id, f] of following) {
    if ((followId != null && f.follow_id === followId) || (followId == null && id === actor)) {
      f.state = state;
      return;
    }
  }
  // An answer to a Follow whose id we don't know: key it by who answered.
  if (actor != null && following.has(actor)) following.get(actor).state = state;
}

// --- Looking things up ------------------------------------------------------
async function loader(ctx) {
  return SIGNED_FETCH ? await ctx.getDocumentLoader({ identifier: USER }) : ctx.documentLoader;
}

// WebFinger by hand: Fedify's client always asks https://HOST for acct: URIs.
async function webfinger(handle) {
  const clean = handle.replace(/^@/, "").replace(/^acct:/, "");
  const at = clean.lastIndexOf("@");
  if (at <= 0) throw new HttpError(400, `not a handle (user@host): ${handle}`);
  const host = clean.slice(at + 1);
  const url = `http://${host}/.well-known/webfinger?resource=${encodeURIComponent(`acct:${clean}`)}`;
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/jrd+json, application/json" }, redirect: "follow" });
  } catch (error) {
    throw new HttpError(502, `WebFinger ${url} failed: ${describe(error)}`);
  }
  const text = await response.text();
  if (!response.ok) throw new HttpError(502, `WebFinger ${url} answered ${response.status}: ${text.slice(0, 500)}`);
  let jrd;
  try {
    jrd = JSON.parse(text);
  } catch {
    throw new HttpError(502, `WebFinger ${url} answered with no JSON: ${text.slice(0, 500)}`);
  }
  const self = (jrd.links ?? []).find((l) =>
    l.rel === "self" &&
    (l.type === "application/activity+json" || /^application\/ld\+json/.test(l.type ?? "")) &&
    typeof l.href === "string"
  );
  if (self == null) throw new HttpError(502, `WebFinger ${url}: no rel=self link of type application/activity+json in ${text.slice(0, 500)}`);
  return { url, jrd, actor: self.href };
}

async function fetchObject(ctx, url) {
  const documentLoader = await loader(ctx);
  let remote;
  try {
    remote = await documentLoader(url);
  } catch (error) {
    throw new HttpError(502, `fetching ${url} failed: ${describe(error)}`);
  }
  let object;
  try {
    object = await APObject.fromJsonLd(remote.document, { documentLoader, contextLoader: ctx.contextLoader });
  } catch (error) {
    throw new HttpError(502, `${url} is not an ActivityStreams object Fedify can read: ${describe(error)}`);
  }
  if (object.id != null && object.id.origin !== new URL(remote.documentUrl).origin) {
    throw new HttpError(502, `${url} served an object whose id ${object.id.href} is on another origin`);
  }
  return object;
}

async function fetchActor(ctx, url) {
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) throw new HttpError(400, `not an actor URL: ${url}`);
  const actor = await fetchObject(ctx, url);
  if (!isActor(actor)) throw new HttpError(502, `${url} is a ${actor.constructor.name}, not an actor`);
  if (actor.inboxId == null) throw new HttpError(502, `the actor ${url} has no inbox`);
  return actor;
}

// --- Sending ------------------------------------------------------------------
function remember(activity, toActor) {
  sent.set(activity.id.href, { activity, to_actor: toActor });
}

async function send(ctx, actor, activity) {
  try {
    await ctx.sendActivity({ identifier: USER }, actor, activity);
  } catch (error) {
    throw new HttpError(502, `delivering ${activity.constructor.name} ${activity.id.href} to ${actor.inboxId.href} failed: ${describe(error)}`);
  }
  remember(activity, actor.id.href);
  say(`sent ${activity.constructor.name} ${activity.id.href} to ${actor.inboxId.href}`);
}

function noteIdFrom(url) {
  const match = typeof url === "string" && url.startsWith(`${origin}/notes/`) ? url.slice(`${origin}/notes/`.length) : null;
  if (match == null || !notes.has(match)) throw new HttpError(404, `no note of this peer at ${url}`);
  return match;
}

function need(body, ...names) {
  for (const name of names) {
    if (typeof body[name] !== "string" || body[name] === "") throw new HttpError(400, `"${name}" (a string) is required`);
  }
}

// --- The control API ----------------------------------------------------------
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const control = {
  async "POST follow"(ctx, body) {
    let actorUrl = body.actor;
    let webfingerUrl;
    if (typeof body.handle === "string" && body.handle !== "") {
      const found = await webfinger(body.handle);
      actorUrl = found.actor;
      webfingerUrl = found.url;
    } else {
      need(body, "actor");
    }
    const actor = await fetchActor(ctx, actorUrl);
    const follow = new Follow({ id: newId("follow"), actor: aliceUri(), object: actor.id, to: actor.id });
    following.set(actor.id.href, { state: "pending", follow_id: follow.id.href, inbox: actor.inboxId.href });
    try {
      await send(ctx, actor, follow);
    } catch (error) {
      following.delete(actor.id.href);
      throw error;
    }
    return { follow_id: follow.id.href, actor: actor.id.href, inbox: actor.inboxId.href, webfinger: webfingerUrl ?? null };
  },

  async "POST unfollow"(ctx, body) {
    need(body, "actor");
    const known = following.get(body.actor);
    const followId = body.follow_id ?? known?.follow_id;
    if (followId == null) throw new HttpError(404, `alice does not follow ${body.actor}`);
    const follow = sent.get(followId)?.activity ??
      new Follow({ id: new URL(followId), actor: aliceUri(), object: new URL(body.actor) });
    const actor = await fetchActor(ctx, body.actor);
    const undo = new Undo({ id: newId("undo"), actor: aliceUri(), to: actor.id, object: follow });
    await send(ctx, actor, undo);
    following.delete(body.actor);
    return { activity_id: undo.id.href };
  },

  async "POST reply"(ctx, body) {
    need(body, "in_reply_to", "content", "to_actor");
    const actor = await fetchActor(ctx, body.to_actor);
    const key = randomUUID();
    const now = Temporal.Now.instant();
    const note = new Note({
      id: new URL(`/notes/${key}`, origin),
      attribution: aliceUri(),
      replyTarget: new URL(body.in_reply_to),
      content: body.content,
      published: now,
      url: new URL(`/notes/${key}`, origin),
      to: PUBLIC_COLLECTION,
      ccs: [actor.id, followersUri()],
    });
    notes.set(key, note);
    const create = new Create({
      id: newId("create"),
      actor: aliceUri(),
      object: note,
      published: now,
      to: PUBLIC_COLLECTION,
      ccs: [actor.id, followersUri()],
    });
    await send(ctx, actor, create);
    return { note_id: note.id.href, activity_id: create.id.href };
  },

  async "POST update-reply"(ctx, body) {
    need(body, "note_id", "content", "to_actor");
    const key = noteIdFrom(body.note_id);
    const actor = await fetchActor(ctx, body.to_actor);
    const now = Temporal.Now.instant();
    const note = notes.get(key).clone({ content: body.content, updated: now });
    notes.set(key, note);
    const update = new Update({
      id: newId("update"),
      actor: aliceUri(),
      object: note,
      published: now,
      to: PUBLIC_COLLECTION,
      ccs: [actor.id, followersUri()],
    });
    await send(ctx, actor, update);
    return { note_id: note.id.href, activity_id: update.id.href };
  },

  async "POST delete-reply"(ctx, body) {
    need(body, "note_id", "to_actor");
    const key = noteIdFrom(body.note_id);
    const actor = await fetchActor(ctx, body.to_actor);
    const now = Temporal.Now.instant();
    const tombstone = new Tombstone({ id: new URL(body.note_id), formerType: Note, deleted: now });
    const del = new Delete({
      id: newId("delete"),
      actor: aliceUri(),
      object: tombstone,
      to: PUBLIC_COLLECTION,
      ccs: [actor.id, followersUri()],
    });
    notes.delete(key);
    deletedNotes.set(key, now.toString());
    await send(ctx, actor, del);
    return { note_id: body.note_id, activity_id: del.id.href };
  },

  async "POST like"(ctx, body) {
    need(body, "object", "to_actor");
    const actor = await fetchActor(ctx, body.to_actor);
    const like = new Like({ id: newId("like"), actor: aliceUri(), object: new URL(body.object) });
    await send(ctx, actor, like);
    return { activity_id: like.id.href };
  },

  async "POST announce"(ctx, body) {
    need(body, "object", "to_actor");
    const actor = await fetchActor(ctx, body.to_actor);
    const announce = new Announce({
      id: newId("announce"),
      actor: aliceUri(),
      object: new URL(body.object),
      published: Temporal.Now.instant(),
      to: PUBLIC_COLLECTION,
      ccs: [actor.id, followersUri()],
    });
    await send(ctx, actor, announce);
    return { activity_id: announce.id.href };
  },

  async "POST undo"(ctx, body) {
    need(body, "activity_id", "to_actor");
    const original = sent.get(body.activity_id);
    if (original == null) throw new HttpError(404, `alice sent no activity ${body.activity_id}`);
    const actor = await fetchActor(ctx, body.to_actor);
    const undo = new Undo({ id: newId("undo"), actor: aliceUri(), object: original.activity });
    await send(ctx, actor, undo);
    return { activity_id: undo.id.href };
  },

  // The accounts an actor of this peer is also known as (alsoKnownAs).
  async "POST aliases"(_ctx, body) {
    need(body, "actor");
    if (!ACTORS.has(body.actor)) throw new HttpError(404, `no actor ${body.actor} here`);
    if (!Array.isArray(body.aliases)) throw new HttpError(400, `"aliases" (a list of URLs) is required`);
    aliasesOf.set(body.actor, body.aliases);
    return { actor: body.actor, aliases: body.aliases };
  },

  // alice moves to "target" (which should name her among its aliases):
  // her actor says movedTo, and Move goes to "to_actor".
  async "POST move"(ctx, body) {
    need(body, "target", "to_actor");
    const actor = await fetchActor(ctx, body.to_actor);
    successorOf.set(USER, body.target);
    const move = new Move({
      id: newId("move"),
      actor: aliceUri(),
      object: aliceUri(),
      target: new URL(body.target),
      to: followersUri(),
    });
    await send(ctx, actor, move);
    return { activity_id: move.id.href };
  },

  // alice changes her avatar ("alice.png" or "alice-2.png") and tells
  // "to_actor" with Update{Person}.
  async "POST profile"(ctx, body) {
    need(body, "avatar", "to_actor");
    if (AVATARS[body.avatar] == null) throw new HttpError(404, `no avatar ${body.avatar}`);
    aliceAvatar = body.avatar;
    const actor = await fetchActor(ctx, body.to_actor);
    const update = new Update({
      id: newId("update"),
      actor: aliceUri(),
      object: await actorOf(ctx, USER),
      to: PUBLIC_COLLECTION,
    });
    await send(ctx, actor, update);
    return { activity_id: update.id.href, icon: new URL(`/avatars/${aliceAvatar}`, origin).href };
  },

  // Answers a Follow of alice kept pending (PEER_AUTO_ACCEPT=0).
  async "POST accept"(ctx, body) {
    return await answerPending(ctx, body, true);
  },
  async "POST reject"(ctx, body) {
    return await answerPending(ctx, body, false);
  },

  // The signed request alice would POST, without sending it.
  async "POST sign"(ctx, body) {
    need(body, "inbox");
    if (body.activity == null || typeof body.activity !== "object") throw new HttpError(400, `"activity" (a JSON object) is required`);
    const spec = body.spec ?? "draft-cavage-http-signatures-12";
    if (spec !== "draft-cavage-http-signatures-12" && spec !== "rfc9421") {
      throw new HttpError(400, `"spec" must be "draft-cavage-http-signatures-12" or "rfc9421"`);
    }
    const text = JSON.stringify(body.activity);
    const request = new Request(body.inbox, {
      method: "POST",
      headers: { "Content-Type": "application/activity+json" },
      body: text,
    });
    const [rsa] = await ctx.getActorKeyPairs(USER);
    let currentTime;
    if (body.date != null) {
      const ms = new Date(body.date).getTime();
      if (Number.isNaN(ms)) throw new HttpError(400, `"date" is not a date: ${body.date}`);
      currentTime = Temporal.Instant.fromEpochMilliseconds(ms);
    }
    const signed = await signRequest(request, rsa.privateKey, rsa.keyId, { spec, currentTime });
    return { headers: Object.fromEntries(signed.headers), body: text, key_id: rsa.keyId.href };
  },

  "GET received"() {
    return received;
  },
  "DELETE received"() {
    received.length = 0;
    inboxLog.length = 0;
    return { cleared: true };
  },
  "GET inbox-log"() {
    return inboxLog;
  },
  "GET followers"() {
    return {
      followers: [...followers.keys()],
      following: Object.fromEntries([...following].map(([id, f]) => [id, f.state])),
      follow_ids: Object.fromEntries([...following].map(([id, f]) => [id, f.follow_id])),
      pending_follow_requests: [...pendingFollowRequests.keys()],
    };
  },
  "GET sent"() {
    return [...sent.entries()].map(([id, s]) => ({ id, type: s.activity.constructor.name, to_actor: s.to_actor }));
  },
  "GET errors"() {
    return backgroundErrors;
  },
  async "GET info"(ctx) {
    return {
      base_url: origin,
      actor: aliceUri().href,
      handle: `${USER}@${new URL(origin).host}`,
      inbox: new URL(`/users/${USER}/inbox`, origin).href,
      shared_inbox: new URL("/inbox", origin).href,
      key_ids: (await ctx.getActorKeyPairs(USER)).map((k) => k.keyId.href),
      first_knock: FIRST_KNOCK,
      auto_accept: AUTO_ACCEPT,
      signed_fetch: SIGNED_FETCH,
      cache: CACHE,
    };
  },
};

async function answerPending(ctx, body, accept) {
  need(body, "follow_id");
  const follow = pendingFollowRequests.get(body.follow_id);
  if (follow == null) throw new HttpError(404, `no pending Follow ${body.follow_id}`);
  const answer = await answerFollow(ctx, follow, accept);
  pendingFollowRequests.delete(body.follow_id);
  return { activity_id: answer.id.href };
}

async function handleControl(req, res, url, bodyText) {
  const name = `${req.method} ${url.pathname.slice("/control/".length)}`;
  const operation = control[name];
  if (operation == null) return sendJson(res, 404, { error: `no control operation ${name}` });
  let body = {};
  if (bodyText.length > 0) {
    try {
      body = JSON.parse(bodyText);
    } catch (error) {
      return sendJson(res, 400, { error: `the body is not JSON: ${error.message}` });
    }
  }
  const ctx = federation.createContext(new URL(origin), {});
  let timer;
  try {
    const result = await Promise.race([
      operation(ctx, body ?? {}),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new HttpError(504, `${name} took longer than ${CONTROL_TIMEOUT_MS} ms`)),
          CONTROL_TIMEOUT_MS,
        );
      }),
    ]);
    sendJson(res, 200, result);
  } catch (error) {
    const status = error instanceof HttpError ? error.status : 500;
    if (!(error instanceof HttpError)) say(`control ${name}:`, error?.stack ?? String(error));
    say(`control ${name} failed (${status}):`, describe(error));
    sendJson(res, status, { error: describe(error) });
  } finally {
    clearTimeout(timer);
  }
}

function sendJson(res, status, value) {
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(value));
}

// --- HTTP ---------------------------------------------------------------------
function signatureSummary(headers) {
  const signature = headers.get("signature");
  if (signature == null) return null;
  if (headers.has("signature-input")) {
    return { spec: "rfc9421", signature_input: headers.get("signature-input"), signature };
  }
  const params = Object.fromEntries(
    [...signature.matchAll(/([A-Za-z]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
  );
  return {
    spec: "draft-cavage-http-signatures-12",
    key_id: params.keyId ?? null,
    algorithm: params.algorithm ?? null,
    headers: params.headers ?? null,
    digest: headers.get("digest"),
    date: headers.get("date"),
  };
}

async function handle(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const url = new URL(req.url, `http://${req.headers.host ?? new URL(origin).host}`);

  if (url.pathname.startsWith("/control/")) {
    await handleControl(req, res, url, body.toString("utf8"));
    if (LOG_REQUESTS) say(`${req.method} ${url.pathname} -> ${res.statusCode}`);
    return;
  }

  // A deleted note is gone.
  const avatar = url.pathname.startsWith("/avatars/") ? AVATARS[url.pathname.slice("/avatars/".length)] : null;
  if (avatar != null && req.method === "GET") {
    res.writeHead(200, { "Content-Type": "image/png" });
    res.end(Buffer.from(avatar, "base64"));
    if (LOG_REQUESTS) say(`GET ${url.pathname} -> 200`);
    return;
  }
  const noteKey = url.pathname.startsWith("/notes/") ? url.pathname.slice("/notes/".length) : null;
  if (noteKey != null && deletedNotes.has(noteKey) && req.method === "GET") {
    res.writeHead(410, { "Content-Type": "application/activity+json" });
    res.end(JSON.stringify({
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${origin}${url.pathname}`,
      type: "Tombstone",
      formerType: "Note",
      deleted: deletedNotes.get(noteKey),
    }));
    if (LOG_REQUESTS) say(`GET ${url.pathname} -> 410`);
    return;
  }

  // Activities alice sent can be dereferenced at their ids.
  if (url.pathname.startsWith("/activities/") && req.method === "GET") {
    const sentActivity = sent.get(`${origin}${url.pathname}`);
    if (sentActivity != null) {
      const json = await sentActivity.activity.toJsonLd({ format: "compact" });
      res.writeHead(200, { "Content-Type": "application/activity+json" });
      res.end(JSON.stringify(json));
      if (LOG_REQUESTS) say(`GET ${url.pathname} -> 200`);
      return;
    }
  }

  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const request = new Request(url, {
    method: req.method,
    headers,
    body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
  });
  const isInbox = req.method === "POST" && /^\/(inbox|users\/[^/]+\/inbox)$/.test(url.pathname);
  const signature = signatureSummary(headers);
  const store = { fedify: [] };
  const response = await requestStore.run(store, () =>
    federation.fetch(request, {
      contextData: { body: body.toString("utf8"), signature },
      onNotFound: () => new Response(JSON.stringify({ error: `not found: ${url.pathname}` }), { status: 404, headers: { "Content-Type": "application/json" } }),
      onNotAcceptable: () => new Response(JSON.stringify({ error: "only ActivityPub (application/activity+json) here" }), { status: 406, headers: { "Content-Type": "application/json" } }),
    })
  );
  const responseBody = Buffer.from(await response.arrayBuffer());
  const outHeaders = {};
  response.headers.forEach((value, name) => {
    outHeaders[name] = value;
  });
  res.writeHead(response.status, outHeaders);
  res.end(responseBody);

  if (isInbox) {
    let activity = null;
    try {
      const parsed = JSON.parse(body.toString("utf8"));
      activity = { type: parsed.type ?? null, id: parsed.id ?? null, actor: parsed.actor ?? null };
    } catch {
      // Not JSON: Fedify said so in its answer.
    }
    inboxLog.push({
      at: new Date().toISOString(),
      path: url.pathname,
      status: response.status,
      response: responseBody.toString("utf8").slice(0, 1000),
      activity,
      signature,
      // What Fedify logged while handling it, debug lines included: why a
      // signature was refused, for one.
      fedify: store.fedify,
    });
  }
  if (LOG_REQUESTS) {
    const sig = signature == null ? "unsigned" : signature.spec === "rfc9421" ? "RFC 9421" : `draft-cavage keyId=${signature.key_id}`;
    const why = response.status >= 400 && isInbox
      ? ` [${store.fedify.filter((l) => /Failed|not|mismatch|Missing|Invalid/i.test(l)).slice(-2).join(" | ")}]`
      : "";
    say(`${req.method} ${url.pathname} (${sig}, accept: ${headers.get("accept") ?? "-"}) -> ${response.status}${why}`);
  }
}

// --- Lifetime -------------------------------------------------------------------
// PEER_EXIT_WITH_STDIN=1: exit when stdin closes, so that the peer cannot
// outlive the process that started it (the Rust tests keep a pipe open).
if (flag("PEER_EXIT_WITH_STDIN", "0")) {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  process.stdin.resume();
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));

process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`);
