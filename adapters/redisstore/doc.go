// Package redisstore keeps deviceauth's state in Redis: it implements
// [store.Store] over a go-redis v9 [redis.UniversalClient], so one Store type
// serves a single node, a Sentinel-managed master and a Redis Cluster.
//
//	client := redis.NewUniversalClient(&redis.UniversalOptions{
//		Addrs: []string{"127.0.0.1:6379"}, // several addresses: Cluster; MasterName: Sentinel
//	})
//	st, err := redisstore.New(ctx, client, redisstore.WithKeyPrefix("myapp"))
//	if err != nil {
//		return err // e.g. the server may evict keys: see below
//	}
//	defer st.Close() // the client stays open: it is the application's
//	svc, err := deviceauth.New(deviceauth.Config{Store: st, …})
//
// Every Service instance that uses a Store over the same Redis (and the same
// key prefix) sees one truth.
//
// # Keys and hash tags
//
// Every key starts with <prefix>:v1: (prefix "deviceauth" by default; the v1
// changes only with the layout). In a Cluster, a Lua script may touch keys of
// one hash slot only, and the Service mints challenge and credential IDs
// itself, so a record must be found by its ID alone. Each record therefore
// lives in a hash tag made of its own ID, and what is scoped to a user lives
// in a tag made of the user ID's hash (u = base64url of the first 16 bytes of
// SHA-256 of the user ID):
//
//	<prefix>:v1:{c:<challengeID>}            hash: the challenge
//	<prefix>:v1:{k:<credentialID>}           hash: the credential
//	<prefix>:v1:{u:<u>}:creds                hash: the user's credentials, ID → kind
//	<prefix>:v1:{u:<u>}:pending              sorted set: the user's challenge IDs by ExpiresAt
//	<prefix>:v1:{u:<u>}:idem:<sha256(key)>   string: "<expiresAt> <challengeID>" of an idempotency key
//	<prefix>:v1:rt:<base64url(hash)>         hash: a registration token
//	<prefix>:v1:ctr:<key>                    hash: a counter's value and window end
//	<prefix>:v1:nonce:<nonce>                string: a nonce's expiry
//	<prefix>:v1:wake                         pub/sub channel of wake-ups
//
// The transitions of a challenge (compare-and-set, wrong-code attempts),
// updates of a credential, registration tokens, counters and nonces are
// each one script on one key, so each is atomic and one round trip.
// Getting a challenge or a credential by ID is one HGETALL. The prefix may
// not contain braces, which would move every key's hash tag. No script
// builds a key name: each touches the keys it declares.
//
// What spans a record and its user depends on the client. A single node
// (the client is a *redis.Client: one server, or a Sentinel master; and New
// finds with INFO cluster that it is not a Cluster of one master) checks no
// hash slots, so there one script declares every key an operation touches,
// of whatever tags, and the operation is atomic and one round trip: creating and deleting a credential (record and index entry
// together, the limit counted in the same step), and the steps of a
// challenge cycle (see Round trips). The user's credential index is then
// exactly the user's credentials, and BeginChallenge and ConsumeChallenge
// read kinds and revocations from it.
//
// A Cluster (through a Cluster client, or a plain client of a one-master
// Cluster) and any client other than a *redis.Client get the same results
// from single-slot steps, ordered so that no reader sees a
// half-made state that matters, each step atomic:
//
//   - CreateCredential stores the record (refusing an existing ID), then a
//     script in the user's tag adds the ID to the user's index only while
//     the index holds fewer than max (ErrLimit otherwise, and the record is
//     deleted again). Until then the record's ID is known to nobody, so N
//     racing creates never leave more than max listed credentials.
//   - DeleteCredential deletes the record (if it is the user's) before it
//     leaves the user's index, so a revoked credential is never usable while
//     unlisted. An index entry may thus outlive its record (a delete that
//     failed half-way): the index is a hint there and the records are the
//     truth. ListCredentials drops and repairs entries whose record is
//     gone, BeginChallenge reads the kinds from the records the index names,
//     and ConsumeChallenge reads the approving credential's record.
//     DeleteUserCredentials deletes each record, then the entries.
//   - CreateChallenge (on a single node too) stores the record, then a
//     script in the user's tag claims the idempotency key (when there is
//     one) and adds the ID to the user's pending index. A second caller with
//     the same key finds the first's ID there, deletes its own still-unknown
//     record and returns the first's: the idempotency key is atomic per
//     (user, key). Without an idempotency key both steps go in one pipeline.
//   - A QR claim (a transition that gives a challenge its user) adds the ID
//     to the claimer's pending index after the compare-and-set (on a single
//     node too).
//   - ListPendingChallenges reads the user's index, then each record, and
//     checks each record's user, state and expiry itself: the index is a
//     hint, never the truth. A challenge without a user (an unclaimed QR
//     code) is in no index.
//
// # Time
//
// Every record stores its ExpiresAt (a counter its window's end, a nonce its
// expiry) and every script compares it with the now the caller passes, as
// unix milliseconds in an argument, never with the server's clock: the
// results follow the caller's clock alone. Server-side TTLs (PEXPIRE, SET
// PX) are garbage collection only, set relative to the caller's now with a
// grace: ExpiresAt − now + 1 h for challenges (so that waiters read EXPIRED
// rather than not-found meanwhile) and their indexes, + 5 min for
// registration tokens, counters and nonces. Credentials never expire.
//
// # Eviction
//
// An evicted nonce would allow a replay, an evicted counter would reset a
// limit, an evicted challenge would lose an approval. New therefore reads
// CONFIG GET maxmemory* (on every master of a Cluster) and refuses, with an
// error matching [ErrEvictionPolicy], a server with a maxmemory whose
// maxmemory-policy is not noeviction (allkeys-* may evict anything,
// volatile-* every key with a TTL, which is all of the above). [AllowEviction]
// turns the refusal into a logged warning. Where CONFIG is not allowed
// (managed Redis services often disable it) the policy is unknown: New logs a
// warning and goes on.
//
// # Wake-ups
//
// Each script that changes a challenge (create, begin, transition, attempt,
// consume) publishes the challenge ID on the channel <prefix>:v1:wake in the
// same atomic step, so a wake-up reaches every Store over the same Redis. Each
// Store holds one subscription to that channel, started by its first Watch
// (which returns once Redis confirmed the subscription) and dispatched to its
// waiters by one goroutine; Close ends both. The channel is a plain channel,
// not a sharded one: SPUBLISH would have to use a channel in the slot of the
// challenge, which means one subscription per watched challenge, while a
// plain PUBLISH in a Cluster reaches subscribers on every node. go-redis
// reconnects the subscription by itself; wake-ups lost meanwhile are
// covered by waking every waiter when it is back (and by the waiters'
// polling, as the store contract says). A Watch that cannot subscribe (the
// server is down) fails, and the Service polls.
//
// # Round trips
//
// A challenge cycle (track → fetch → respond → validate through Service
// calls) is, once the scripts are loaded, with rate limits off:
//
//   - on a single node, 5 round trips and 6 commands: BeginChallenge is one
//     script (it reads the wrong-code counter and the user's credential
//     kinds, and creates the challenge with its index entry and
//     idempotency key), GetChallenge one HGETALL, GetChallengeCredential
//     two HGETALLs in one pipeline, TransitionChallenge with CredentialUsed
//     one script (the challenge and the credential's last use),
//     ConsumeChallenge one script (the challenge and the user's credential
//     index). The default rate limits add an IncrementCounter to Track and
//     one to Respond: 7 and 8.
//   - on a Cluster, 10 round trips and 13 commands (12 and 15 with the
//     default rate limits), counting a pipeline whose commands go to
//     several nodes, side by side, as one: BeginChallenge is three (the
//     counter and the user's index; the index's records; CreateChallenge),
//     TransitionChallenge with CredentialUsed two (the transition, then the
//     credential's last use), ConsumeChallenge three (the challenge; its
//     credential's record; a compare-and-set on the challenge that checks
//     the binding again and applies the verdict).
//
// A test pins these numbers step by step on miniredis, a real Redis and a
// real Cluster. The Cluster pays more because a record lives in a tag of
// its own ID, and a user's keys in the user's tag, so no one script may
// touch a challenge, its user's credential index and a credential at once.
// A layout in which challenge and credential IDs carry their user's tag
// (the Service minting IDs with it) would let the cycle's scripts run in
// one slot and make a Cluster cycle as short as a single node's; that is a
// known follow-up, which changes the key layout (v2).
//
// Other methods: on a single node CreateCredential and DeleteCredential are
// one round trip, ListCredentials, ListPendingChallenges and
// DeleteUserCredentials two (the index, then the records in one
// pipeline), as are a create with an idempotency key (three when it
// repeats an earlier one), a BeginChallenge that repeats one, and a QR
// claim. On a Cluster CreateCredential and DeleteCredential are two and
// DeleteUserCredentials three. Every other method is one.
//
// # Clients
//
// The scripts are loaded with SCRIPT LOAD on every master in New and run
// with EVALSHA, falling back to EVAL on a server that lost them (a restart,
// a failover). The subscription holds one more connection per Store.
//
// New refuses a Cluster client that reads from replicas (ReadOnly,
// RouteByLatency, RouteRandomly): a replica behind its master would show a
// revoked credential, or a consumed challenge, as they were. go-redis
// retries a command whose connection broke (MaxRetries), which may run a
// script a second time: that run finds the ID taken, the state left, the
// token gone or the nonce claimed (or counts one more), so a retry can make
// a change that was made report a conflict, never make a one-time change
// twice; the Service fails closed. Set MaxRetries to -1 to avoid even that.
package redisstore
