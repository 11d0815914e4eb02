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
// Every key starts with <prefix>:v1: (prefix "deviceauth" by default). In a
// Cluster, a Lua script may touch keys of one hash slot only, and a record
// must be found by its ID alone. The Service mints the IDs of the records
// it makes for a known user (challenges, device credentials, ceremonies)
// with the user's tag inside: two lower-case letters, "_", the tag and 22
// base64url characters, where the tag is the first three characters of
// the base64url encoding of SHA-256 over "deviceauth/v1/user-tag", a NUL
// byte and the user ID. The store reads the tag back from any ID of that form, and from
// a counter key of the form name:<length of the user ID>:<user ID>:rest
// (the Service's wrong-code and push-mute counters). So a user's keys,
// the records whose IDs carry a tag, and the counters whose keys name a
// user live in the hash tag {t:<tag>}; a record whose ID carries none (a
// QR code's challenge, made before it has a user; a passkey, whose ID
// comes from the authenticator; the IDs of an application's own calls)
// lives in a tag of its own ID. With u = base64url of the first 16 bytes
// of SHA-256 of the user ID:
//
//	<prefix>:v1:{t:<tag>}:c:<challengeID>     hash: a challenge whose ID carries <tag>
//	<prefix>:v1:{c:<challengeID>}             hash: a challenge whose ID carries no tag
//	<prefix>:v1:{t:<tag>}:k:<credentialID>    hash: a credential whose ID carries <tag>
//	<prefix>:v1:{k:<credentialID>}            hash: a credential whose ID carries no tag
//	<prefix>:v1:{t:<tag>}:u:<u>:creds         hash: the user's credentials, ID → kind
//	<prefix>:v1:{t:<tag>}:u:<u>:pending       sorted set: the user's challenge IDs by ExpiresAt
//	<prefix>:v1:{t:<tag>}:u:<u>:idem:<h>      string: "<expiresAt> <challengeID>" of the
//	                                          idempotency key whose SHA-256 is h
//	<prefix>:v1:{t:<tag>}:ctr:<key>           hash: a counter whose key names the user
//	<prefix>:v1:ctr:<key>                     hash: any other counter (value, window end)
//	<prefix>:v1:{t:<tag>}:ce:<ceremonyID>     hash: a ceremony whose ID carries <tag>
//	<prefix>:v1:{ce:<ceremonyID>}             hash: a ceremony whose ID carries no tag
//	                                          (one without a user: a passkey sign-in)
//	<prefix>:v1:{t:<tag>}:a:<actionID>        hash: an action record whose ID carries <tag>
//	<prefix>:v1:{a:<actionID>}                hash: an action record whose ID carries no tag
//	<prefix>:v1:{t:<tag>}:u:<u>:actions       sorted set: the user's action record IDs by
//	                                          CreatedAt (unix ms)
//	<prefix>:v1:{t:<tag>}:u:<u>:passed        sorted set: the user's passed action record IDs
//	                                          by PassedAt (unix ms)
//	<prefix>:v1:reviews                       sorted set: IDs of action records whose review
//	                                          is pending, by CreatedAt (unix ms)
//	<prefix>:v1:rt:<base64url(hash)>          hash: a registration token
//	<prefix>:v1:nonce:<nonce>                 string: a nonce's expiry
//	<prefix>:v1:wake                          pub/sub channel of wake-ups
//
// where <tag> in a user's keys is the user's tag. A counter key names a
// user when it has the form <name>:<n>:<user>[:<rest>], n being the user
// ID's length in bytes in decimal: the form of the Service's wrong-code
// counters, which BeginChallenge reads in the user's slot. Placement
// depends on the key or ID alone, so every method finds a key where
// another put it; a key or an ID that merely looks as if it named a user
// is placed apart from its own user's keys, which costs round trips, never
// correctness. This layout replaced, still as v1 (nothing was released before it), one that
// kept every record in a tag of its own ID and a user's keys in {u:<u>};
// data written with that one is not found.
//
// The transitions of a challenge (compare-and-set, wrong-code attempts),
// updates of a credential, registration tokens, ceremonies, counters and
// nonces are each one script on one key, so each is atomic and one round
// trip. Taking a ceremony or consuming a token reads and deletes it in one
// script, so of racing takers exactly one gets it.
// Getting a challenge or a credential by ID is one HGETALL. The prefix may
// not contain braces, which would move every key's hash tag. Each script
// touches the keys it declares, and one (Actions') also the records its
// declared index lists whose IDs carry the index's tag: their names are a
// prefix the caller passes, in that tag, and the ID, so they are in the
// declared keys' slot, which a Cluster serves. No other script builds a
// key name.
//
// What spans a record and its user is one script where one script may
// declare all its keys. A single node (the client is a *redis.Client: one
// server, or a Sentinel master; and New finds with INFO cluster that it is
// not a Cluster of one master) checks no hash slots, so there it always
// may, whatever the keys' tags. A Cluster (through a Cluster client, or a
// plain client of a one-master Cluster), and any client other than a
// *redis.Client, may when the keys share a hash tag: the IDs and the user
// an operation involves decide, key by key, not the client. One script
// makes the operation atomic and one round trip: creating and deleting a
// credential (record and index entry together, the limit counted in the
// same step), and the steps of a challenge cycle (see Round trips), which
// for the Service's own IDs are one script on a Cluster too. An index
// entry written with its record in one script is exact: the credential is
// the user's while its ID is there, and BeginChallenge and
// ConsumeChallenge read kinds and revocations from the index.
//
// Where the keys span tags (on a Cluster: IDs without a tag, or with
// another user's), an operation is made of single-slot steps with the
// same results, ordered so that no reader sees a half-made state that
// matters, each step atomic:
//
//   - CreateCredential stores the record (refusing an existing ID), then a
//     script in the user's tag adds the ID to the user's index only while
//     the index holds fewer than max (ErrLimit otherwise, and the record is
//     deleted again). Until then the record's ID is known to nobody, so N
//     racing creates never leave more than max listed credentials. The
//     entry is marked as a hint ("?" before the kind).
//   - DeleteCredential deletes the record (if it is the user's) before it
//     leaves the user's index, so a revoked credential is never usable while
//     unlisted. A hint may thus outlive its record (a delete that failed
//     half-way): the records are the truth. ListCredentials drops and
//     repairs entries whose record is gone; BeginChallenge and
//     ConsumeChallenge, also where they are one script, read the record of
//     a hint before they count it (the script stops, the record is read,
//     and the script runs again with what was read, or the challenge's
//     verdict is applied). DeleteUserCredentials deletes each record, then
//     the entries.
//   - CreateChallenge (also where one script could do it) stores the
//     record, then a script in the user's tag claims the idempotency key
//     (when there is one) and adds the ID to the user's pending index. A
//     second caller with the same key finds the first's ID there, deletes
//     its own still-unknown record and returns the first's: the idempotency
//     key is atomic per (user, key). Without an idempotency key both steps
//     go in one pipeline.
//   - A QR claim (a transition that gives a challenge its user) adds the ID
//     to the claimer's pending index after the compare-and-set (also on a
//     single node). If that second step fails, the claim stands and is
//     reported made; the store logs the miss (the claiming device already
//     has the challenge; only ListPendingChallenges would not list it).
//   - ListPendingChallenges reads the user's index, then each record, and
//     checks each record's user, state and expiry itself: the index is a
//     hint, never the truth. A challenge without a user (an unclaimed QR
//     code) is in no index.
//
// # Action records
//
// An action record ([store.ActionStore]) is a hash at the key of its ID,
// as a challenge is: the Service's action IDs are their challenges' or of
// the same form, so a user's records live in the user's tag. Each is
// listed in two sorted sets of its user: …:actions by CreatedAt, for
// Actions' pages, and …:passed by PassedAt, for its PassedSince part. A
// record whose review is pending is also in reviews, one sorted set of
// the prefix, by CreatedAt: its own slot, which no script of a user's
// keys may declare on a Cluster, so it is updated by a command after the
// record's script (PutAction, CreateChallenge, BeginChallenge add;
// DecideReview removes), and PendingReviews re-checks each entry against
// its record (review state, expiry) and removes the stale ones.
//
// A challenge's record (Challenge.Record) is written by the script that
// creates the challenge (challengeCreate, challengeBegin), with its entry
// in …:actions: no round trip of its own. The scripts that change the
// challenge change the record in the same step (its key is in the
// challenge's tag): a transition sets its result to the new state and
// its kind to the credential's, when the credential is declared beside
// the challenge; a consume sets its result, its kind (the index entry's,
// or the one the caller read with its verdict) and, consumed, its pass
// time, the caller's now, adding it to …:passed. A record whose key does
// not exist changes nothing. Reads never return a challenge's Record.
//
// Actions is one script in the user's slot (actionList): it walks
// …:actions from the cursor newest first (by score, then ID, as
// store.Newer orders), keeps the user's unexpired records up to the
// page's size, adds the records created before Since but passed since
// PassedSince, and removes the entries whose record is gone. A record
// whose ID does not carry its user's tag (written by a caller of the
// store's own) is read in steps instead. DecideReview and UseReview are
// one compare-and-set script each on the record, so of racing callers
// exactly one wins; ForgetActions reads the user's IDs, then deletes the
// records, both indexes, their review entries and the counters named.
// These keys are new to v1: no key of an earlier release changed, so
// data of an earlier release needs no upgrade.
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
// registration tokens, ceremonies, counters and nonces (a token's or a
// ceremony's now is its CreatedAt). An action record is kept until its
// ExpiresAt (+ 1 ms), counted from the later of the caller's now and the
// record's CreatedAt (PutAction's now is the server's clock's), and each
// of its user's indexes as long as its longest-kept record. Credentials
// never expire.
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
// calls) is, once the scripts are loaded, with rate limits off, 5 round
// trips and 6 commands, on a single node and on a Cluster alike:
// BeginChallenge is one script (it reads the wrong-code counter and the
// user's credential kinds, and creates the challenge with its index entry
// and idempotency key), GetChallenge one HGETALL, GetChallengeCredential
// two HGETALLs in one pipeline, TransitionChallenge with CredentialUsed one
// script (the challenge and the credential's last use), ConsumeChallenge
// one script (the challenge and the user's credential index). The default
// rate limits add an IncrementCounter to Track and one to Respond: 7 and 8.
// The in-app cycle (no fetch) is 3 round trips when the instance that
// tracked the challenge has read the answering credential before (the
// answer is the transition alone), 4 otherwise.
// On a Cluster every key of the cycle is in the user's slot: the
// challenge's and the device credential's IDs carry the user's tag, and
// the wrong-code counter names the user. (The layout before this one took
// 10 round trips on a Cluster.) A test pins these numbers step by step on
// miniredis, a real Redis, a one-shard Ring and a real Cluster.
//
// On a Cluster, keys in several slots cost more. A user with a passkey
// (its ID carries no tag, so its index entry is a hint) costs a
// BeginChallenge three round trips (the script, the hint's record, the
// script again), and a challenge a passkey approved costs its
// TransitionChallenge with CredentialUsed two and its ConsumeChallenge
// three (the script, the record, the verdict). A challenge whose ID carries
// no tag (a QR code's; IDs of the application's own) costs the same
// through the single-slot steps: BeginChallenge three (the counter and the
// user's index; the index's records; CreateChallenge), TransitionChallenge
// with CredentialUsed two, ConsumeChallenge three (the challenge; its
// credential's record; a compare-and-set on the challenge that checks the
// binding again and applies the verdict). A pipeline whose commands go to
// several nodes, side by side, counts as one.
//
// Other methods: CreateCredential and DeleteCredential are one round trip
// where one script may declare the record and the index, two otherwise;
// ListCredentials, ListPendingChallenges and DeleteUserCredentials two (the
// index, then the records in one pipeline; DeleteUserCredentials three
// when some records live outside the index's slot), as are a create with
// an idempotency key (three when it repeats an earlier one), a
// BeginChallenge that repeats one, and a QR claim. Of the action records'
// methods, Actions, GetAction and UseReview are one; PutAction one, and
// one more for a record held for review (and on a Cluster one more for a
// record whose ID does not carry its user's tag); DecideReview,
// ForgetActions and ReadSignals two; PendingReviews two a batch of
// entries (the entries, their records; one more to remove stale ones)
// and, while the page is not full, one more that finds no more entries;
// Actions over records whose IDs do not carry their user's tag the
// script, then two a batch of entries (and two for PassedSince). Every
// other method is one.
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
