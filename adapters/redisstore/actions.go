package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/store"
)

// Action records (store.ActionStore). A record is a hash in the tag its ID
// carries (an action's ID is its challenge's, or one of the same form: in
// its user's tag), listed in two sorted sets of its user, by creation time
// (…:actions) and by pass time (…:passed); records held for review are
// also in one sorted set of the prefix (reviews), by creation time, in a
// slot of its own: it is updated by a command of its own after the record's
// script, and readers re-check each entry's record and drop stale ones.
// A challenge's record is written by the script that creates the
// challenge, and kept in step with it by the scripts that change it, where
// one script may declare both keys (always for the Service's challenges,
// whose IDs carry their user's tag).

var _ store.ActionStore = (*Store)(nil)

// Field names of action records (their own hashes; fieldID, fieldUser,
// fieldAction, fieldCreatedAt, fieldExpiresAt, fieldKind and fieldData as
// elsewhere).
const (
	fieldOutcome    = "oc"
	fieldPrefix     = "px"
	fieldBrowser    = "br"
	fieldResult     = "r"
	fieldPassedAt   = "pa"
	fieldReview     = "rv"
	fieldReviewer   = "rr"
	fieldReviewNote = "rn"
	fieldReviewedAt = "ra"
	fieldBinding    = "bd"
)

func (k keyspace) action(id string) string                { return k.record("a", id) }
func (k keyspace) userActions(userID string) string       { return k.user(userID) + ":actions" }
func (k keyspace) userPassed(userID string) string        { return k.user(userID) + ":passed" }
func (k keyspace) pendingReviews() string                 { return k.base + "reviews" }
func actionTTL(a store.ActionRecord, now time.Time) int64 { return ttl(a.ExpiresAt, now, 0) + 1 }

func encodeAction(a store.ActionRecord) fields {
	f := fields{fieldID, a.ID}
	f.str(fieldUser, a.UserID)
	f.str(fieldAction, a.Action)
	f.time(fieldCreatedAt, a.CreatedAt)
	f.time(fieldExpiresAt, a.ExpiresAt)
	f.str(fieldOutcome, a.Outcome)
	f.str(fieldPrefix, a.Prefix)
	f.str(fieldBrowser, a.Browser)
	f.str(fieldResult, string(a.Result))
	f.time(fieldPassedAt, a.PassedAt)
	f.str(fieldKind, string(a.Kind))
	f.str(fieldReview, string(a.Review))
	f.str(fieldReviewer, a.Reviewer)
	f.str(fieldReviewNote, a.ReviewNote)
	f.time(fieldReviewedAt, a.ReviewedAt)
	f.bytes(fieldBinding, a.Binding)
	f.bytes(fieldData, a.Data)
	return f
}

func decodeAction(h map[string]string) (store.ActionRecord, error) {
	d := decoder{h: h}
	a := store.ActionRecord{
		ID: d.str(fieldID), UserID: d.str(fieldUser), Action: d.str(fieldAction),
		CreatedAt: d.time(fieldCreatedAt), ExpiresAt: d.time(fieldExpiresAt),
		Outcome: d.str(fieldOutcome), Prefix: d.str(fieldPrefix), Browser: d.str(fieldBrowser),
		Result: store.State(d.str(fieldResult)), PassedAt: d.time(fieldPassedAt), Kind: store.CredentialKind(d.str(fieldKind)),
		Review: store.ReviewState(d.str(fieldReview)), Reviewer: d.str(fieldReviewer), ReviewNote: d.str(fieldReviewNote),
		ReviewedAt: d.time(fieldReviewedAt), Binding: d.bytes(fieldBinding), Data: d.bytes(fieldData),
	}
	if d.err != nil {
		return store.ActionRecord{}, fmt.Errorf("redisstore: action %s: %w", a.ID, d.err)
	}
	return a, nil
}

var (
	// actionPut stores an action record unless its key exists (0) and,
	// with their keys, lists it in its user's indexes (1).
	// KEYS: record[, the user's actions, the user's passed]. ARGV: TTL
	// ms, created ms, ID, passed ms ("" for none), field, value, …
	actionPut = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if not KEYS[2] then return 1 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
if KEYS[3] and ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
  if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[3], ARGV[1]) end
end
return 1`)

	// actionList is Actions in one step: it walks the user's actions index
	// newest first (score, then ID, descending: the order of
	// store.Newer) from the cursor, keeps each entry whose record is the
	// user's and unexpired until it has cap, adds the records passed since
	// the passed bound but created before the created walk's lower bound
	// (the newest cap of them, after the walk's: they are all older), and
	// returns {"ok", {field, value, …}, …} (without the data field when
	// brief). It reads the records of IDs that carry the user's tag, whose
	// keys are the declared prefix and the ID (keyspace.taggedRecords: the
	// user's slot; Lua's test is ids.IDTag's); at the first entry of
	// another ID it stops and returns {"foreign"}, and the caller reads in
	// steps. It removes the entries of such IDs whose record is gone
	// (records and entries are written by one script).
	// KEYS: the user's actions index, the user's passed index. ARGV: now,
	// user, the records' key prefix, the user's tag, the length of a tagged
	// ID, the walk's upper bound ("+inf" or ms), the cursor's ms ("" for
	// none) and ID (entries of that ms need an ID below it), the walk's
	// lower bound ("-inf" or ms), the passed bound ("" for none), cap, "1"
	// for brief.
	actionList = newScript(`
local now, user, prefix, tag, idlen = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local hi, tie, cursor, lo = ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9]
local cap = tonumber(ARGV[11])
local function below(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function newer(a, b)
  if a[1] ~= b[1] then return a[1] > b[1] end
  return below(b[2], a[2])
end
-- live reports whether id's record is the user's and unexpired: nil when
-- its ID does not carry the user's tag.
local gone = 0 -- walked entries removed, which the next batch's offset leaves out
local function live(id)
  if #id ~= idlen or string.sub(id, 4, 3 + #tag) ~= tag or not string.find(id, '^[a-z][a-z]_[A-Za-z0-9_%-]+$') then
    return nil
  end
  local f = redis.call('HMGET', prefix .. id, 'u', 'ea')
  if not f[1] and not f[2] and redis.call('EXISTS', prefix .. id) == 0 then
    gone = gone + redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    return false
  end
  local exp = tonumber(f[2] or '')
  return f[1] == user and exp ~= nil and exp > now
end
local function admitted(score, id)
  return score ~= tie or below(id, cursor)
end
local picked = {}
local offset, batch = 0, cap + 16
while #picked < cap do
  local page = redis.call('ZREVRANGEBYSCORE', KEYS[1], hi, lo, 'WITHSCORES', 'LIMIT', offset, batch)
  for i = 1, #page, 2 do
    local id, score = page[i], tonumber(page[i + 1])
    if admitted(score, id) then
      local ok = live(id)
      if ok == nil then return {'foreign'} end
      if ok then
        picked[#picked + 1] = {score, id}
        if #picked == cap then break end
      end
    end
  end
  if #page < 2 * batch then break end
  offset, gone = offset + batch - gone, 0
end
if ARGV[10] ~= '' and #picked < cap then
  local older = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[10], '+inf')) do
    local score = tonumber(redis.call('ZSCORE', KEYS[1], id) or '')
    if score and score < tonumber(lo) and (hi == '+inf' or score <= tonumber(hi)) and admitted(score, id) then
      local ok = live(id)
      if ok == nil then return {'foreign'} end
      if ok then older[#older + 1] = {score, id} end
    end
  end
  table.sort(older, newer)
  for i = 1, math.min(#older, cap - #picked) do picked[#picked + 1] = older[i] end
end
local r = {'ok'}
for _, p in ipairs(picked) do
  local h = redis.call('HGETALL', prefix .. p[2])
  if ARGV[12] == '1' then
    for i = #h - 1, 1, -2 do
      if h[i] == 'dat' then
        table.remove(h, i + 1)
        table.remove(h, i)
      end
    end
  end
  r[#r + 1] = h
end
return r`)

	// actionReview moves a record's review from one state to another, and
	// with ARGV[6] = "1" records the reviewer, note and time. It returns
	// {"notfound"}, {"conflict", field, value, …} or {"ok", field, value,
	// …}.
	// KEYS: record. ARGV: user, now, from, to, "1" to record the decision,
	// reviewer, note, reviewed at.
	actionReview = newScript(`
local k = KEYS[1]
local cur = redis.call('HMGET', k, 'u', 'ea', 'rv')
local exp = tonumber(cur[2] or '')
if not cur[1] or cur[1] ~= ARGV[1] or not exp or exp <= tonumber(ARGV[2]) then return {'notfound'} end
local function record(status)
  local r = redis.call('HGETALL', k)
  table.insert(r, 1, status)
  return r
end
if (cur[3] or '') ~= ARGV[3] then return record('conflict') end
redis.call('HSET', k, 'rv', ARGV[4])
if ARGV[5] == '1' then
  local f = {'rr', 'rn', 'ra'}
  for i = 1, 3 do
    if ARGV[5 + i] == '' then redis.call('HDEL', k, f[i]) else redis.call('HSET', k, f[i], ARGV[5 + i]) end
  end
end
return record('ok')`)
)

// PutAction implements [store.ActionStore]: one script in the user's tag
// and, for a review, the review index. On a Cluster, a record whose ID
// does not carry its user's tag is stored first and indexed next.
func (s *Store) PutAction(ctx context.Context, a store.ActionRecord) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	c := s.actionPutCall(a, time.Now())
	together := s.oneScript(c.keys...)
	if !together {
		c.keys = c.keys[:1]
	}
	put, err := s.run(ctx, c).Int()
	if err != nil {
		return wrap("PutAction", err)
	}
	if put == 0 {
		return store.ErrConflict
	}
	if !together {
		ttlMs := time.Duration(c.args[0].(int64)) * time.Millisecond
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range []string{s.keys.userActions(a.UserID), s.keys.userPassed(a.UserID)} {
				if k == s.keys.userPassed(a.UserID) && a.PassedAt.IsZero() {
					continue
				}
				score := a.CreatedAt
				if k == s.keys.userPassed(a.UserID) {
					score = a.PassedAt
				}
				p.ZAdd(ctx, k, redis.Z{Score: float64(score.UnixMilli()), Member: a.ID})
				p.PExpire(ctx, k, ttlMs) // an index lives as long as its newest record
			}
			return nil
		})
		if err != nil {
			return wrap("PutAction: indexing", err)
		}
	}
	if err := s.indexReview(ctx, a); err != nil {
		return wrap("PutAction: review index", err)
	}
	return nil
}

// indexReview lists a in the review index when its review is pending: a
// command of its own, after the script that stored a.
func (s *Store) indexReview(ctx context.Context, a store.ActionRecord) error {
	if a.Review != store.ReviewPending {
		return nil
	}
	return s.client.ZAdd(ctx, s.keys.pendingReviews(), redis.Z{Score: float64(a.CreatedAt.UnixMilli()), Member: a.ID}).Err()
}

// actionPutCall is actionPut for a. The server's TTL is counted from the
// server's clock's now, generously: it only collects garbage.
func (s *Store) actionPutCall(a store.ActionRecord, now time.Time) call {
	passed := ""
	if !a.PassedAt.IsZero() {
		passed = unixMilli(a.PassedAt)
	}
	ttlMs := max(actionTTL(a, now), actionTTL(a, a.CreatedAt))
	return call{actionPut, []string{s.keys.action(a.ID), s.keys.userActions(a.UserID), s.keys.userPassed(a.UserID)},
		append([]any{ttlMs, a.CreatedAt.UnixMilli(), a.ID, passed}, encodeAction(a)...)}
}

// GetAction implements [store.ActionStore].
func (s *Store) GetAction(ctx context.Context, userID, id string, now time.Time) (store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.ActionRecord{}, err
	}
	h, err := s.client.HGetAll(ctx, s.keys.action(id)).Result()
	if err != nil {
		return store.ActionRecord{}, wrap("GetAction", err)
	}
	a, ok, err := liveAction(h, userID, now)
	if err != nil {
		return store.ActionRecord{}, err
	}
	if !ok {
		return store.ActionRecord{}, store.ErrNotFound
	}
	return a, nil
}

// liveAction decodes h, reporting false when it is no record, another
// user's, or expired at now.
func liveAction(h map[string]string, userID string, now time.Time) (store.ActionRecord, bool, error) {
	if len(h) == 0 {
		return store.ActionRecord{}, false, nil
	}
	a, err := decodeAction(h)
	if err != nil {
		return store.ActionRecord{}, false, err
	}
	if (userID != "" && a.UserID != userID) || !a.ExpiresAt.After(now) {
		return store.ActionRecord{}, false, nil
	}
	return a, true, nil
}

// actionBounds are an ActionQuery's bounds in the indexes' unix
// milliseconds (records keep times to the millisecond): the created walk
// from hi down to lo, entries of the cursor's millisecond tie (when it is
// one) admitted below BeforeID, and passed ("" for none) the lower bound of
// pass times for records created before lo.
type actionBounds struct{ hi, tie, lo, passed string }

func boundsOf(q store.ActionQuery) actionBounds {
	b := actionBounds{hi: "+inf", lo: "-inf"}
	if !q.Before.IsZero() {
		ms := q.Before.UnixMilli() // the floor
		b.hi = strconv.FormatInt(ms, 10)
		if q.Before.Equal(time.UnixMilli(ms)) {
			b.tie = b.hi
		}
	}
	if !q.Since.IsZero() {
		b.lo = strconv.FormatInt(ceilMilli(q.Since), 10)
		if !q.PassedSince.IsZero() {
			b.passed = strconv.FormatInt(ceilMilli(q.PassedSince), 10)
		}
	}
	return b
}

// ceilMilli is t in unix milliseconds, rounded up.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if !t.Equal(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

// Actions implements [store.ActionStore] in one round trip (actionList, in
// the user's slot). When the records it meets include one whose ID does
// not carry the user's tag, it reads in steps instead (actionsInSteps).
func (s *Store) Actions(ctx context.Context, q store.ActionQuery, now time.Time) ([]store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	b, brief := boundsOf(q), ""
	if q.Brief {
		brief = "1"
	}
	tag := ids.UserTag(q.UserID)
	v, err := s.run(ctx, call{actionList, []string{s.keys.userActions(q.UserID), s.keys.userPassed(q.UserID)}, []any{
		now.UnixMilli(), q.UserID, s.keys.taggedRecords("a", tag), tag, ids.TaggedIDLen,
		b.hi, b.tie, q.BeforeID, b.lo, b.passed, q.Cap(), brief,
	}}).Result()
	if err != nil {
		return nil, wrap("Actions", err)
	}
	r, err := parseReply(v)
	if err != nil {
		return nil, wrap("Actions", err)
	}
	if r.status == "foreign" {
		return s.actionsInSteps(ctx, q, b, now)
	}
	list := make([]store.ActionRecord, 0, len(r.rest))
	for _, item := range r.rest {
		flat, ok := item.([]any)
		if !ok {
			return nil, fmt.Errorf("redisstore: Actions: unexpected record %T in the reply", item)
		}
		h, err := hashOf(flat)
		if err != nil {
			return nil, wrap("Actions", err)
		}
		a, err := decodeAction(h)
		if err != nil {
			return nil, err
		}
		list = append(list, a)
	}
	return list, nil
}

// actionsInSteps is Actions for a user some of whose records' IDs do not
// carry the user's tag (a store's caller of its own wrote them; on a
// Cluster they live in other slots): the records passed since the passed
// bound, then the actions index from the cursor down, a batch of IDs and
// then their records at a time, until the page is full.
func (s *Store) actionsInSteps(ctx context.Context, q store.ActionQuery, b actionBounds, now time.Time) ([]store.ActionRecord, error) {
	var older []store.ActionRecord // created before lo, passed since the bound
	if b.passed != "" {
		ids, err := s.client.ZRangeByScore(ctx, s.keys.userPassed(q.UserID), &redis.ZRangeBy{Min: b.passed, Max: "+inf"}).Result()
		if err != nil {
			return nil, wrap("Actions", err)
		}
		recs, err := s.actionsByID(ctx, q.UserID, ids, now)
		if err != nil {
			return nil, wrap("Actions", err)
		}
		for _, a := range recs {
			if a.CreatedAt.Before(q.Since) && q.Matches(a) {
				older = append(older, a)
			}
		}
		slices.SortFunc(older, store.Newer)
	}
	batch := int64(q.Cap() + 16)
	list := []store.ActionRecord{}
	for offset := int64(0); len(list) < q.Cap(); offset += batch {
		ids, err := s.client.ZRevRangeByScore(ctx, s.keys.userActions(q.UserID), &redis.ZRangeBy{
			Max: b.hi, Min: b.lo, Offset: offset, Count: batch}).Result()
		if err != nil {
			return nil, wrap("Actions", err)
		}
		recs, err := s.actionsByID(ctx, q.UserID, ids, now) // in the index's order, store.Newer's
		if err != nil {
			return nil, wrap("Actions", err)
		}
		for _, a := range recs {
			if len(list) < q.Cap() && q.Matches(a) {
				list = append(list, a)
			}
		}
		if int64(len(ids)) < batch {
			break
		}
	}
	list = append(list, older...) // all older than the walk's
	list = list[:min(len(list), q.Cap())]
	if q.Brief {
		for i := range list {
			list[i].Data = nil
		}
	}
	return list, nil
}

// actionsByID reads the live records of ids (of userID, or of anyone when
// userID is "") in one pipelined round trip.
func (s *Store) actionsByID(ctx context.Context, userID string, ids []string, now time.Time) ([]store.ActionRecord, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.keys.action(id))
		}
		return nil
	})
	list := make([]store.ActionRecord, 0, len(ids))
	for _, cmd := range cmds {
		h, err := cmd.Result()
		if err != nil {
			return nil, err
		}
		a, ok, err := liveAction(h, userID, now)
		if err != nil {
			return nil, err
		}
		if ok {
			list = append(list, a)
		}
	}
	return list, nil
}

// DecideReview implements [store.ActionStore]: one script on the record,
// then the record leaves the review index.
func (s *Store) DecideReview(ctx context.Context, userID, id string, d store.ReviewDecision, now time.Time) (store.ActionRecord, error) {
	a, err := s.moveReview(ctx, "DecideReview", userID, id, now, store.ReviewPending, d.To, "1", d.Reviewer, d.Note, timeArg(d.ReviewedAt))
	if err != nil {
		return a, err
	}
	if err := s.client.ZRem(ctx, s.keys.pendingReviews(), id).Err(); err != nil {
		return store.ActionRecord{}, wrap("DecideReview: review index", err)
	}
	return a, nil
}

// UseReview implements [store.ActionStore]: one script on the record.
func (s *Store) UseReview(ctx context.Context, userID, id string, now time.Time) (store.ActionRecord, error) {
	return s.moveReview(ctx, "UseReview", userID, id, now, store.ReviewApproved, store.ReviewUsed, "0", "", "", "")
}

func timeArg(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return unixMilli(t)
}

func (s *Store) moveReview(ctx context.Context, method, userID, id string, now time.Time, from, to store.ReviewState,
	record, reviewer, note, reviewedAt string) (store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.ActionRecord{}, err
	}
	v, err := s.run(ctx, call{actionReview, []string{s.keys.action(id)},
		[]any{userID, now.UnixMilli(), string(from), string(to), record, reviewer, note, reviewedAt}}).Result()
	if err != nil {
		return store.ActionRecord{}, wrap(method, err)
	}
	r, err := parseReply(v)
	if err != nil {
		return store.ActionRecord{}, wrap(method, err)
	}
	if r.status == "notfound" {
		return store.ActionRecord{}, store.ErrNotFound
	}
	h, err := hashOf(r.rest)
	if err != nil {
		return store.ActionRecord{}, wrap(method, err)
	}
	a, err := decodeAction(h)
	if err != nil {
		return store.ActionRecord{}, err
	}
	if r.status == "conflict" {
		return a, store.ErrConflict
	}
	return a, nil
}

// PendingReviews implements [store.ActionStore]: the review index's oldest
// entries, each re-checked against its record (stale ones are removed).
func (s *Store) PendingReviews(ctx context.Context, limit int, now time.Time) ([]store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	list := []store.ActionRecord{}
	var offset int64
	for len(list) < limit {
		ids, err := s.client.ZRangeByScore(ctx, s.keys.pendingReviews(), &redis.ZRangeBy{Min: "-inf", Max: "+inf",
			Offset: offset, Count: int64(limit)}).Result()
		if err != nil {
			return nil, wrap("PendingReviews", err)
		}
		if len(ids) == 0 {
			break
		}
		offset += int64(len(ids))
		recs, err := s.actionsByID(ctx, "", ids, now)
		if err != nil {
			return nil, wrap("PendingReviews", err)
		}
		live := map[string]bool{}
		for _, a := range recs {
			if a.Review == store.ReviewPending {
				live[a.ID] = true
				if len(list) < limit {
					list = append(list, a)
				}
			}
		}
		var stale []any
		for _, id := range ids {
			if !live[id] {
				stale = append(stale, id)
			}
		}
		if len(stale) > 0 {
			if err := s.client.ZRem(ctx, s.keys.pendingReviews(), stale...).Err(); err != nil {
				return nil, wrap("PendingReviews: dropping stale entries", err)
			}
			offset -= int64(len(stale))
		}
	}
	slices.SortFunc(list, func(a, b store.ActionRecord) int { return store.Newer(b, a) })
	return list, nil
}

// ForgetActions implements [store.ActionStore]: the user's IDs, then their
// records, indexes and review entries.
func (s *Store) ForgetActions(ctx context.Context, userID string, counters []string) (int, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	ids, err := s.client.ZRange(ctx, s.keys.userActions(userID), 0, -1).Result()
	if err != nil {
		return 0, wrap("ForgetActions", err)
	}
	dels := make([]*redis.IntCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			dels[i] = p.Del(ctx, s.keys.action(id))
		}
		p.Del(ctx, s.keys.userActions(userID))
		p.Del(ctx, s.keys.userPassed(userID))
		for _, k := range counters {
			p.Del(ctx, s.keys.counter(k))
		}
		if len(ids) > 0 {
			members := make([]any, len(ids))
			for i, id := range ids {
				members[i] = id
			}
			p.ZRem(ctx, s.keys.pendingReviews(), members...)
		}
		return nil
	})
	if err != nil {
		return 0, wrap("ForgetActions", err)
	}
	n := 0
	for _, d := range dels {
		n += int(d.Val())
	}
	return n, nil
}

// recordArgs are the arguments a challenge script takes for c's action
// record: "0" when it has none (or one script cannot declare its keys
// beside keys), else the number of its fields and values, its TTL, its
// creation time, then the fields and values. It returns the keys to
// declare after keys (record, the user's actions index).
func (s *Store) recordArgs(c store.Challenge, now time.Time, keys []string) (args []any, more []string) {
	if c.Record == nil {
		return []any{0, 0, 0}, nil
	}
	a := *c.Record
	if !s.recordWith(keys, a) {
		return []any{0, 0, 0}, nil
	}
	more = []string{s.keys.action(a.ID), s.keys.userActions(a.UserID)}
	f := encodeAction(a)
	ttlMs := max(actionTTL(a, now), actionTTL(a, a.CreatedAt))
	return append([]any{len(f), ttlMs, a.CreatedAt.UnixMilli()}, f...), more
}

var _ store.SignalStore = (*Store)(nil)

// ReadSignals implements [store.SignalStore] in two round trips: the
// user's credential index, the counter and the IDs of the user's records of
// the last day or passed since q.KnownSince in one pipeline; the
// credentials' and records' hashes in another; the tallies in Go.
func (s *Store) ReadSignals(ctx context.Context, q store.SignalQuery) (store.SignalRead, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.SignalRead{}, err
	}
	var (
		index               *redis.StringSliceCmd
		counter             *redis.SliceCmd
		byCreated, byPassed *redis.StringSliceCmd
	)
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		index = p.HKeys(ctx, s.keys.userCredentials(q.UserID))
		if q.Counter != "" {
			counter = p.HMGet(ctx, s.keys.counter(q.Counter), fieldCounterValue, fieldWindowEnd)
		}
		byCreated = p.ZRangeByScore(ctx, s.keys.userActions(q.UserID), &redis.ZRangeBy{Min: unixMilli(q.Since()), Max: "+inf"})
		byPassed = p.ZRangeByScore(ctx, s.keys.userPassed(q.UserID), &redis.ZRangeBy{Min: unixMilli(q.KnownSince), Max: "+inf"})
		return nil
	})
	var r store.SignalRead
	credIDs, err := index.Result()
	if err != nil {
		return store.SignalRead{}, wrap("ReadSignals", err)
	}
	if counter != nil {
		if r.Counter, err = counterValue(counter, q.Now); err != nil {
			return store.SignalRead{}, wrap("ReadSignals", err)
		}
	}
	ids, err := byCreated.Result()
	if err != nil {
		return store.SignalRead{}, wrap("ReadSignals", err)
	}
	passed, err := byPassed.Result()
	if err != nil {
		return store.SignalRead{}, wrap("ReadSignals", err)
	}
	ids = slices.Compact(slices.Sorted(slices.Values(append(ids, passed...))))
	creds := make([]*redis.MapStringStringCmd, len(credIDs))
	recs := make([]*redis.MapStringStringCmd, len(ids))
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range credIDs {
			creds[i] = p.HGetAll(ctx, s.keys.credential(id))
		}
		for i, id := range ids {
			recs[i] = p.HGetAll(ctx, s.keys.action(id))
		}
		return nil
	})
	r.Credentials = []store.Credential{}
	for _, cmd := range creds {
		h, err := cmd.Result()
		if err != nil {
			return store.SignalRead{}, wrap("ReadSignals", err)
		}
		if len(h) == 0 {
			continue // removed meanwhile; ListCredentials tidies the index
		}
		c, err := decodeCredential(h)
		if err != nil {
			return store.SignalRead{}, err
		}
		if c.UserID == q.UserID {
			r.Credentials = append(r.Credentials, c)
		}
	}
	slices.SortFunc(r.Credentials, func(a, b store.Credential) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	for _, cmd := range recs {
		h, err := cmd.Result()
		if err != nil {
			return store.SignalRead{}, wrap("ReadSignals", err)
		}
		a, ok, err := liveAction(h, q.UserID, q.Now)
		if err != nil {
			return store.SignalRead{}, err
		}
		if ok {
			a.Data = nil
			q.Tally(&r, &a)
		}
	}
	return r, nil
}
