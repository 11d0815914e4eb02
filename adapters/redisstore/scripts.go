package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts. Each touches the keys it declares and no other (no key
// name is built inside a script), compares times with the now in its
// arguments (unix ms), and reports outcomes as values, never as Redis
// errors. Field names are those of codec.go. Those that declare keys of
// records and of a user (challengeBegin, challengeConsume with an index,
// challengeTransition with a credential, credentialCreate,
// credentialRemove) run only where Store.oneScript allows them: a Cluster
// refuses keys of several slots with CROSSSLOT. The '?' they compare with
// is credentialHint.
var (
	// challengeCreate stores a challenge unless its key exists, with its
	// action record when one is given (as actionPut stores one), and
	// publishes its ID.
	// KEYS: challenge[, record, the user's actions index]. ARGV: TTL ms,
	// channel, ID, then the record (putRecordArgs), then the challenge's
	// field, value, ….
	challengeCreate = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local nr = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 7 + nr))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
` + putRecordLua("KEYS[2]", "KEYS[3]", "4", "ARGV[3]") + `
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`)

	// challengeIndex claims an idempotency key (when KEYS[2] is given) for
	// a new challenge, or returns the ID of the unexpired challenge that
	// holds it; then adds the new challenge to its user's pending index and
	// trims entries long expired. It returns "" when the new challenge is
	// the one that counts.
	// KEYS: pending index[, idempotency key]. ARGV: ID, ExpiresAt, now,
	// trim bound ("(ms"), index TTL, mapping TTL, stale ID (a holder whose
	// record is gone, to replace), "1" to index.
	challengeIndex = newScript(`
if KEYS[2] then
  local v = redis.call('GET', KEYS[2])
  if v then
    local sep = string.find(v, ' ', 1, true)
    if sep then
      local exp, other = tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1)
      if other ~= ARGV[1] and other ~= ARGV[7] and exp and exp > tonumber(ARGV[3]) then return other end
    end
  end
  redis.call('SET', KEYS[2], ARGV[2] .. ' ' .. ARGV[1], 'PX', ARGV[6])
end
if ARGV[8] == '1' then
  redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
end
return ''`)

	// challengeTransition is the compare-and-set of a challenge's state. It
	// returns {"notfound"}, {"conflict"} or {"ok", claimed, field, value,
	// …}, claimed being "1" when the transition gave the challenge its user.
	// With a credential key (Transition.CredentialUsed, where one script
	// may declare both keys), a transition made also sets that
	// credential's last use to the answered at (removes it when empty) if
	// the credential is the challenge's user's.
	// With the challenge's action record declared (its position in KEYS
	// in ARGV[12]; 0 for none), a transition made sets the record's result
	// (and its kind, from the credential when declared) if the record is
	// the challenge's user's.
	// KEYS: challenge[, credential][, action record]. ARGV: now, channel,
	// ID, from, "1" when from is final, to, user, credential ID, deny
	// reason, claimed by, answered at, the record's position, "1" to
	// record the credential's use (the credential is declared for its
	// kind too).
	challengeTransition = newScript(`
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return {'notfound'} end
local cur = redis.call('HMGET', k, 's', 'ea', 'u')
local state, exp, user = cur[1] or '', tonumber(cur[2] or ''), cur[3] or ''
if ARGV[5] == '1' or state ~= ARGV[4] or not exp or exp <= tonumber(ARGV[1])
  or (ARGV[7] ~= '' and user ~= '' and user ~= ARGV[7]) then
  return {'conflict'}
end
local set, claimed = {'s', ARGV[6]}, '0'
if ARGV[7] ~= '' and user == '' then
  set[#set + 1] = 'u'
  set[#set + 1] = ARGV[7]
  claimed = '1'
end
local fields = {'ci', 'dr', 'cb', 'aa'}
for i = 1, 4 do
  if ARGV[7 + i] ~= '' then
    set[#set + 1] = fields[i]
    set[#set + 1] = ARGV[7 + i]
  end
end
redis.call('HSET', k, unpack(set))
local rk = tonumber(ARGV[12] or '0')
if rk > 0 then
  local owner = user
  if claimed == '1' then owner = ARGV[7] end
  if (redis.call('HGET', KEYS[rk], 'u') or '') == owner and owner ~= '' then
    redis.call('HSET', KEYS[rk], 'r', ARGV[6])
    if KEYS[2] and rk ~= 2 then
      local kind = redis.call('HGET', KEYS[2], 'k')
      if kind and (redis.call('HGET', KEYS[2], 'u') or '') == owner then redis.call('HSET', KEYS[rk], 'k', kind) end
    end
  end
end
if KEYS[2] and rk ~= 2 and ARGV[13] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  local owner = user
  if claimed == '1' then owner = ARGV[7] end
  if (redis.call('HGET', KEYS[2], 'u') or '') == owner then
    if ARGV[11] == '' then
      redis.call('HDEL', KEYS[2], 'lu')
    else
      redis.call('HSET', KEYS[2], 'lu', ARGV[11])
    end
  end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
local r = redis.call('HGETALL', k)
table.insert(r, 1, claimed)
table.insert(r, 1, 'ok')
return r`)

	// challengeBegin is BeginChallenge in one atomic step: it reads a
	// counter and the kinds in a user's credential index, and when they
	// allow it (the counter below the limit, at least one kind, and the
	// kinds those required when a list is given) creates the challenge as
	// challengeCreate and challengeIndex do together, unless another
	// unexpired challenge than the stale one holds the idempotency key. An
	// index entry marked as a hint counts with the kind the caller read
	// from its record (none when the record is gone or another user's);
	// while some hint is not in the caller's list, the script changes
	// nothing and returns their IDs. It returns {status, counter, holder,
	// kind, …}: status "skip" (not allowed), "held" (holder holds the
	// idempotency key), "conflict" (the ID exists) or "created"; or
	// {"verify", counter, "", ID, …}.
	// KEYS: challenge, credential index, pending index[, counter][,
	// idempotency key]. ARGV: now, channel, ID, the counter's position in
	// KEYS (0: none), the idempotency key's (0: none), counter limit (0:
	// none), number of required kinds (-1: any), challenge TTL, ExpiresAt,
	// trim bound ("(ms"), index TTL, stale ID, "1" to index, number of hints
	// read, then ID, kind ("" for none), … of each, the required kinds, then
	// the record (putRecordArgs; its keys, record and the user's actions
	// index, last in KEYS), then field, value, … of the challenge.
	challengeBegin = newScript(`
local now = tonumber(ARGV[1])
local counter = 0
local ck, ik, nk, nv = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7]), tonumber(ARGV[14])
if ck > 0 then
  local cur = redis.call('HMGET', KEYS[ck], 'v', 'e')
  local e = tonumber(cur[2] or '')
  if cur[1] and e and e > now then counter = tonumber(cur[1]) or 0 end
end
local read = {}
for i = 1, nv do read[ARGV[13 + 2 * i]] = ARGV[14 + 2 * i] end
local at = 14 + 2 * nv
local kinds, seen, unread = {}, {}, {}
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
  local kind = entries[i + 1]
  if string.sub(kind, 1, 1) == '?' then
    kind = read[entries[i]]
    if not kind then
      unread[#unread + 1] = entries[i]
      kind = ''
    end
  end
  if kind ~= '' and not seen[kind] then
    seen[kind] = true
    kinds[#kinds + 1] = kind
  end
end
local function reply(status, holder, list)
  local r = {status, counter, holder}
  for i = 1, #list do r[#r + 1] = list[i] end
  return r
end
if #unread > 0 then return reply('verify', '', unread) end
local limit = tonumber(ARGV[6])
if #kinds == 0 or (limit ~= 0 and counter >= limit) then return reply('skip', '', kinds) end
if nk >= 0 then
  local want = {}
  for i = 1, nk do
    want[ARGV[at + i]] = true
    if not seen[ARGV[at + i]] then return reply('skip', '', kinds) end
  end
  for _, kind in ipairs(kinds) do
    if not want[kind] then return reply('skip', '', kinds) end
  end
end
if ik > 0 then
  local v = redis.call('GET', KEYS[ik])
  if v then
    local sep = string.find(v, ' ', 1, true)
    if sep then
      local exp, other = tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1)
      if other ~= ARGV[12] and exp and exp > now then return reply('held', other, kinds) end
    end
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return reply('conflict', '', kinds) end
local ra = at + math.max(nk, 0) + 1
local nr = tonumber(ARGV[ra])
redis.call('HSET', KEYS[1], unpack(ARGV, ra + 3 + nr))
redis.call('PEXPIRE', KEYS[1], ARGV[8])
if nr > 0 then
` + putRecordLua("KEYS[#KEYS - 1]", "KEYS[#KEYS]", "ra", "ARGV[3]") + `
end
if ik > 0 then redis.call('SET', KEYS[ik], ARGV[9] .. ' ' .. ARGV[3], 'PX', ARGV[11]) end
if ARGV[13] == '1' then
  redis.call('ZADD', KEYS[3], 'NX', ARGV[9], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[10])
  if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[11]) then redis.call('PEXPIRE', KEYS[3], ARGV[11]) end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return reply('created', '', kinds)`)

	// challengeConsume moves an approved challenge bound to a user, action
	// and details digest, and unexpired, to consumed — or to failed when
	// its credential is gone — and publishes its ID. With KEYS[2], the
	// user's credential index, the verdict is the script's: the credential
	// is there or gone — unless its entry is a hint, and then the script
	// changes nothing and returns {"verify", "", field, value, …} — and an
	// answer the binding does not admit (the credential's kind is not in
	// the list, or a code is asked for, the kind is not passkey and the
	// challenge had none) changes nothing and is a conflict.
	// Otherwise the caller read the credential, judged its answer, and
	// passes the verdict, with the credential ID it read the challenge
	// with, which must still be the challenge's. It returns {"notfound"},
	// {"conflict", "", field, value, …} (the record as it is),
	// {"ok", kind, field, value, …} or {"revoked", "", field, value, …}.
	// With the challenge's action record and its user's passed index
	// declared (their positions in ARGV[14] and ARGV[15]; 0 for none), a
	// change sets the record's result and kind, and a consume its pass
	// time (now), listing it in the passed index. The record's kind is the
	// index entry's, or without the index the kind the caller read with
	// its verdict.
	// KEYS: challenge[, the user's credential index][, action record,
	// passed index]. ARGV: now, channel, ID, user, action, digest,
	// approved, consumed, failed, credential ID, verdict (consumed or
	// failed), admitted kinds (",device,passkey,"; "" for any), "1" when a
	// code is asked for, the record's and the index's positions, the kind
	// read with the verdict.
	challengeConsume = newScript(`
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return {'notfound'} end
local rk, pk = tonumber(ARGV[14] or '0'), tonumber(ARGV[15] or '0')
local ix = KEYS[2]
if rk == 2 then ix = nil end
local function record(status, kind)
  local r = redis.call('HGETALL', k)
  table.insert(r, 1, kind)
  table.insert(r, 1, status)
  return r
end
local cur = redis.call('HMGET', k, 's', 'ea', 'u', 'a', 'dd', 'ci', 'vc')
local exp, user, cred = tonumber(cur[2] or ''), cur[3] or '', cur[6] or ''
if user == '' or user ~= ARGV[4] or (cur[4] or '') ~= ARGV[5] or (cur[5] or '') ~= ARGV[6]
  or (cur[1] or '') ~= ARGV[7] or not exp or exp <= tonumber(ARGV[1])
  or (not ix and cred ~= ARGV[10]) then
  return record('conflict', '')
end
local kind, to = ARGV[16] or '', ARGV[11]
if ix then
  kind = redis.call('HGET', ix, cred)
  if kind and string.sub(kind, 1, 1) == '?' then return record('verify', '') end
  if kind then
    if (ARGV[12] ~= '' and not string.find(ARGV[12], ',' .. kind .. ',', 1, true))
      or (ARGV[13] == '1' and kind ~= 'passkey' and (cur[7] or '') == '') then
      return record('conflict', '')
    end
    to = ARGV[8]
  else
    kind, to = '', ARGV[9]
  end
end
redis.call('HSET', k, 's', to)
if rk > 0 and (redis.call('HGET', KEYS[rk], 'u') or '') == user then
  redis.call('HSET', KEYS[rk], 'r', to)
  if kind ~= '' then redis.call('HSET', KEYS[rk], 'k', kind) end
  if to == ARGV[8] then
    redis.call('HSET', KEYS[rk], 'pa', ARGV[1])
    if pk > 0 then
      redis.call('ZADD', KEYS[pk], ARGV[1], ARGV[3])
      local t = redis.call('PTTL', KEYS[rk])
      if redis.call('PTTL', KEYS[pk]) < t then redis.call('PEXPIRE', KEYS[pk], t) end
    end
  end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
if to == ARGV[8] then return record('ok', kind) end
return record('revoked', kind)`)

	// challengeAttempt adds one to a challenge's attempts while it is in a
	// state that is not final, and unexpired. Replies as challengeTransition.
	// KEYS: challenge. ARGV: now, channel, ID, from, "1" when from is final.
	challengeAttempt = newScript(`
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return {'notfound'} end
local cur = redis.call('HMGET', k, 's', 'ea')
local exp = tonumber(cur[2] or '')
if ARGV[5] == '1' or (cur[1] or '') ~= ARGV[4] or not exp or exp <= tonumber(ARGV[1]) then return {'conflict'} end
redis.call('HINCRBY', k, 'at', 1)
redis.call('PUBLISH', ARGV[2], ARGV[3])
local r = redis.call('HGETALL', k)
table.insert(r, 1, '0')
table.insert(r, 1, 'ok')
return r`)

	// credentialInsert stores a credential unless its key exists.
	// KEYS: credential. ARGV: field, value, …
	credentialInsert = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`)

	// credentialReserve adds a credential ID and its kind (marked as a
	// hint by the caller) to its user's credential index while the index
	// holds fewer than max (max <= 0: no limit). 1 added, 0 limit.
	// KEYS: the user's credential index. ARGV: ID, max, entry.
	credentialReserve = newScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
local max = tonumber(ARGV[2])
if max > 0 and redis.call('HLEN', KEYS[1]) >= max then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`)

	// credentialCreate is CreateCredential where one script may declare
	// the record's key and the index, in one atomic step: it stores a credential unless its key exists (0) and adds it to
	// its user's index while the index holds fewer than max (max <= 0: no
	// limit; -1 over the limit, and nothing is stored). 1 created.
	// KEYS: credential, the user's credential index. ARGV: ID, kind, max,
	// field, value, …
	credentialCreate = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local max = tonumber(ARGV[3])
if max > 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 and redis.call('HLEN', KEYS[2]) >= max then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1`)

	// credentialUpdate changes a user's credential: fields with an empty
	// value are removed (the zero value), others set. A sign count must move
	// forward (or stay 0). Returns {"notfound"}, {"conflict"} or {"ok",
	// field, value, …}.
	// KEYS: credential. ARGV: user, new sign count or "", field, value, …
	credentialUpdate = newScript(`
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 or (redis.call('HGET', k, 'u') or '') ~= ARGV[1] then return {'notfound'} end
if ARGV[2] ~= '' then
  local cur, nxt = tonumber(redis.call('HGET', k, 'sc') or '0'), tonumber(ARGV[2])
  if nxt <= cur and (nxt ~= 0 or cur ~= 0) then return {'conflict'} end
end
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', k, ARGV[i])
  else
    redis.call('HSET', k, ARGV[i], ARGV[i + 1])
  end
end
local r = redis.call('HGETALL', k)
table.insert(r, 1, 'ok')
return r`)

	// credentialDelete deletes a credential if it is the user's: 1 deleted,
	// 0 not found.
	// KEYS: credential. ARGV: user.
	credentialDelete = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 or (redis.call('HGET', KEYS[1], 'u') or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`)

	// credentialRemove is DeleteCredential where one script may declare
	// the record's key and the index, in one atomic step: it deletes a credential if it is the user's, and its ID from the
	// user's index (also when the record is already gone): 1 deleted, 0 not
	// found.
	// KEYS: credential, the user's credential index. ARGV: user, ID.
	credentialRemove = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  return 0
end
if (redis.call('HGET', KEYS[1], 'u') or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1`)

	// oncePut stores a one-time record (a registration token, a ceremony)
	// unless its key exists: 1 stored, 0 taken.
	// KEYS: the record. ARGV: TTL ms, field, value, …
	oncePut = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

	// onceTake deletes a one-time record and returns it while unexpired
	// (its ExpiresAt field after now): {"notfound"} or {"ok", field,
	// value, …}. An expired record is deleted too.
	// KEYS: the record. ARGV: now.
	onceTake = newScript(`
local exp = tonumber(redis.call('HGET', KEYS[1], 'ea') or '')
local r = redis.call('HGETALL', KEYS[1])
if #r == 0 then return {'notfound'} end
redis.call('DEL', KEYS[1])
if not exp or exp <= tonumber(ARGV[1]) then return {'notfound'} end
table.insert(r, 1, 'ok')
return r`)

	// counterIncrement adds one to a fixed-window counter, starting a new
	// window at 1 when there is none or it has ended. Returns the value.
	// KEYS: counter. ARGV: now, the new window's end, TTL ms.
	counterIncrement = newScript(`
local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '')
if not e or e <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'v', '1', 'e', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return redis.call('HINCRBY', KEYS[1], 'v', 1)`)

	// nonceClaim records a nonce until its expiry unless it is recorded and
	// unexpired (an expired nonce the server still holds is claimed again):
	// 1 claimed, 0 taken.
	// KEYS: nonce. ARGV: now, ExpiresAt, TTL ms.
	nonceClaim = newScript(`
local e = tonumber(redis.call('GET', KEYS[1]) or '')
if e and e > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)
)

// putRecordLua is the Lua that stores an action record given with a
// challenge (ARGV from position at: the number of its fields and values,
// its TTL, its creation time, the fields and values; nothing when the
// number is 0) under key rec, listing ID id in the user's actions index
// idx.
func putRecordLua(rec, idx, at, id string) string {
	return `
do
  local at = ` + at + `
  local n = tonumber(ARGV[at])
  if n > 0 then
    redis.call('HSET', ` + rec + `, unpack(ARGV, at + 3, at + 2 + n))
    redis.call('PEXPIRE', ` + rec + `, ARGV[at + 1])
    redis.call('ZADD', ` + idx + `, ARGV[at + 2], ` + id + `)
    if redis.call('PTTL', ` + idx + `) < tonumber(ARGV[at + 1]) then redis.call('PEXPIRE', ` + idx + `, ARGV[at + 1]) end
  end
end`
}

// script is a Lua script with its source, which loadScripts sends in a
// pipeline (redis.Script keeps it to itself).
type script struct {
	*redis.Script
	src string
}

func newScript(src string) script { return script{Script: redis.NewScript(src), src: src} }

var allScripts = []script{
	challengeCreate, challengeIndex, challengeTransition, challengeAttempt, challengeBegin, challengeConsume,
	actionPut, actionList, actionReview,
	credentialInsert, credentialReserve, credentialCreate, credentialUpdate, credentialDelete, credentialRemove,
	oncePut, onceTake, counterIncrement, nonceClaim, recoveryReplace, recoveryUse,
}

// loadScripts loads every script on every master in one pipeline each, so
// that EVALSHA finds them from the first call.
func (s *Store) loadScripts(ctx context.Context) error {
	return s.eachMaster(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, sc := range allScripts {
				p.ScriptLoad(ctx, sc.src)
			}
			return nil
		})
		if err != nil {
			return wrap("loading scripts", err)
		}
		for i, cmd := range cmds {
			if got := cmd.(*redis.StringCmd).Val(); got != allScripts[i].Hash() {
				return fmt.Errorf("redisstore: loading scripts: the server's SHA1 %s differs from %s", got, allScripts[i].Hash())
			}
		}
		return nil
	})
}

// call is one script with its keys and arguments.
type call struct {
	script script
	keys   []string
	args   []any
}

// run runs one script: EVALSHA, then EVAL if the server lacks it.
func (s *Store) run(ctx context.Context, c call) *redis.Cmd {
	return c.script.Run(ctx, s.client, c.keys, c.args...)
}

// runPipelined runs scripts in one pipeline (one round trip on a single
// node; one per node involved in a Cluster) and returns their commands,
// each with its own result or error. Scripts the server lacked are run again
// with EVAL, one by one.
func (s *Store) runPipelined(ctx context.Context, calls ...call) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	// The pipeline's error is that of its first failed command, which each
	// caller reads from its own command.
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.script.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range calls {
		if err := cmds[i].Err(); err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")) {
			cmds[i] = c.script.Eval(ctx, s.client, c.keys, c.args...)
		}
	}
	return cmds
}
