package pgxstore

import (
	"strconv"
	"strings"
)

// queries holds every statement of a Store with its schema filled in, built
// once by New. Every time a statement compares with is a parameter (the
// caller's now); none calls now(). Parameters whose type PostgreSQL cannot
// infer from a column (those in a SELECT list, CASE or COALESCE) are cast.
type queries struct {
	lock string

	createCredential, credentialExists, getCredential, listCredentials   string
	updateCredential, credentialOwned, deleteCredential, deleteUserCreds string

	createChallenge, idempotentChallenge, getChallenge, challengeExists string
	transitionChallenge, recordAttempt, listPending                     string

	countWaiters, uncountWaiters string

	beginChallenge, getChallengeCredential, consumeChallenge string

	putToken, consumeToken string

	putCeremony, takeCeremony string

	putAction, getAction, listActions, moveReview, pendingReviews, forgetActions, tallyActions, approvals string

	incrementCounter, counter, claimNonce string

	sweep string
}

const credentialColumns = `id, user_id, kind, algorithm, public_key, name, platform, push_token,
	created_at, last_used_at, sign_count, flags, passkey, attestation`

// createChallengeCTEs are the two CTEs that create a challenge, shared by
// createChallenge and beginChallenge. Parameters: $1…$24 the challenge's
// challengeColumns but the last, $25 now, and {attest} the last
// (attestation_required, after the statement's own parameters). {create} is a condition the statement puts on
// the whole creation ("true" in createChallenge). The idempotency key is
// claimed (or taken over from an expired holder) by INSERT … ON CONFLICT,
// which waits for a racing claim to commit and then re-checks it; the
// challenge is inserted only when the claim succeeded or there is no key.
// A duplicate ID aborts the whole statement, claim included. inserted has a
// row when the challenge was inserted; recorded then inserts the
// challenge's action record (Challenge.Record) when its parameters
// ({record}, after {attest}) are not NULL.
const createChallengeCTEs = `claim AS (
		INSERT INTO {s}.challenge_idempotency AS i (user_id, key, challenge_id, expires_at)
		SELECT $2::text, $11::text, $1::text, $16::timestamptz WHERE $11::text <> '' AND {create}
		ON CONFLICT (user_id, key) DO UPDATE
			SET challenge_id = EXCLUDED.challenge_id, expires_at = EXCLUDED.expires_at
			WHERE i.expires_at <= $25::timestamptz
		RETURNING 1
	),
	inserted AS (
		INSERT INTO {s}.challenges ({challengeColumns})
		SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text[], $7::bytea, $8::bytea, $9::bytea,
			$10::text, $11::text, $12::text, $13::text, $14::text, $15::timestamptz, $16::timestamptz,
			$17::text, $18::text, $19::timestamptz, $20::integer, $21::text, $22::bytea, $23::bytea, $24::bytea,
			{attest}::text
		WHERE {create} AND ($11::text = '' OR EXISTS (SELECT 1 FROM claim))
		RETURNING 1
	),
	recorded AS (
		INSERT INTO {s}.actions ({actionColumns})
		SELECT {record}
		WHERE {recordID} IS NOT NULL AND EXISTS (SELECT 1 FROM inserted)
	)`

// heldChallengeSelect reads the unexpired challenge that holds idempotency
// key {key} of user {user} at time {now}.
const heldChallengeSelect = `SELECT {c.challengeColumns}
	FROM {s}.challenge_idempotency i JOIN {s}.challenges c ON c.id = i.challenge_id
	WHERE i.user_id = {user} AND i.key = {key} AND i.expires_at > {now}`

const actionColumns = `id, user_id, action, created_at, expires_at, outcome, prefix, browser, result, passed_at,
	kind, review, reviewer, review_note, reviewed_at, binding, data`

// actionValues are the casts of an action record's parameters from $n on,
// in actionColumns' order.
func actionValues(n int) string {
	types := []string{"text", "text", "text", "timestamptz", "timestamptz", "text", "text", "text", "text", "timestamptz",
		"text", "text", "text", "text", "timestamptz", "bytea", "bytea"}
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = "$" + strconv.Itoa(n+i) + "::" + t
	}
	return strings.Join(parts, ", ")
}

const challengeColumns = `id, user_id, action, state, method, methods, nonce, details, details_digest,
	verification_code, idempotency_key, client_ip, user_agent, origin, created_at, expires_at,
	credential_id, deny_reason, answered_at, attempts, claimed_by, claim_secret_hash,
	browser_binding_hash, passkey, attestation_required`

func newQueries(schema string) queries {
	r := strings.NewReplacer("{s}", schema,
		"{credentialColumns}", credentialColumns,
		"{challengeColumns}", challengeColumns,
		"{c.challengeColumns}", prefixColumns("c.", challengeColumns),
		"{actionColumns}", actionColumns,
		"{cr.credentialColumns}", prefixColumns("cr.", credentialColumns))
	return queries{
		lock: `SELECT pg_advisory_xact_lock($1::bigint)`,

		// Run after the per-user advisory lock in the same implicit
		// transaction, so the count sees every committed credential of the
		// user and no other create of that user runs in between.
		createCredential: r.Replace(`INSERT INTO {s}.credentials ({credentialColumns})
			SELECT $1::text, $2::text, $3::text, $4::text, $5::bytea, $6::text, $7::text, $8::text,
				$9::timestamptz, $10::timestamptz, $11::bigint, $12::bigint, $13::bytea, $15::bytea
			WHERE $14::bigint <= 0
				OR (SELECT count(*) FROM {s}.credentials WHERE user_id = $2::text) < $14::bigint`),
		credentialExists: r.Replace(`SELECT EXISTS (SELECT 1 FROM {s}.credentials WHERE id = $1)`),
		getCredential:    r.Replace(`SELECT {credentialColumns} FROM {s}.credentials WHERE id = $1`),
		listCredentials: r.Replace(`SELECT {credentialColumns} FROM {s}.credentials
			WHERE user_id = $1 ORDER BY created_at, id`),
		updateCredential: r.Replace(`UPDATE {s}.credentials SET
				last_used_at = COALESCE($3::timestamptz, last_used_at),
				name = COALESCE($4::text, name),
				push_token = COALESCE($5::text, push_token),
				flags = COALESCE($6::bigint, flags),
				passkey = CASE WHEN $7::boolean THEN $8::bytea ELSE passkey END,
				sign_count = COALESCE($9::bigint, sign_count)
			WHERE id = $1 AND user_id = $2
				AND ($9::bigint IS NULL OR $9::bigint > sign_count OR ($9::bigint = 0 AND sign_count = 0))
			RETURNING {credentialColumns}`),
		credentialOwned:  r.Replace(`SELECT EXISTS (SELECT 1 FROM {s}.credentials WHERE id = $1 AND user_id = $2)`),
		deleteCredential: r.Replace(`DELETE FROM {s}.credentials WHERE id = $1 AND user_id = $2`),
		deleteUserCreds:  r.Replace(`DELETE FROM {s}.credentials WHERE user_id = $1`),

		// Reports whether the challenge was inserted; when it was not, the
		// key is held by an unexpired challenge, which idempotentChallenge
		// reads.
		createChallenge: r.Replace(strings.NewReplacer("{create}", "true", "{attest}", "$26",
			"{record}", actionValues(27), "{recordID}", "$27::text").Replace(`WITH ` + createChallengeCTEs + `
			SELECT EXISTS (SELECT 1 FROM inserted)`)),
		idempotentChallenge: r.Replace(strings.NewReplacer("{user}", "$1", "{key}", "$2", "{now}", "$3").
			Replace(heldChallengeSelect)),
		// BeginChallenge: $1…$24 the challenge, $25 now, $26 the counter's
		// key, $27 its limit (0: none), $28 the kinds the user must have
		// (NULL: any), $29 the challenge's attestation_required, $30…$46
		// its action record (NULL: none). One statement reads the counter, the user's kinds and
		// (when they allow the create) the challenge holding the idempotency
		// key, and creates the challenge when they allow it and no holder is
		// visible. It returns the counter, the kinds, whether they allow
		// the create, whether the challenge was inserted, and the holder as
		// one record (NULL when none). All CTEs see one snapshot: a holder
		// that a racing create committed after it began is invisible to
		// held, but the claim waits for it and then fails, so nothing is
		// inserted and the caller reads the holder with a second statement.
		beginChallenge: r.Replace(strings.NewReplacer("{record}", actionValues(30), "{recordID}", "$30::text").Replace(
			strings.ReplaceAll(strings.ReplaceAll(`WITH
				counter AS (
					SELECT COALESCE((SELECT value FROM {s}.counters
						WHERE key = $26::text AND $26::text <> '' AND window_end > $25::timestamptz), 0) AS value
				),
				kinds AS (
					SELECT ARRAY(SELECT DISTINCT kind COLLATE "C" FROM {s}.credentials
						WHERE user_id = $2::text ORDER BY 1) AS kinds
				),
				allowed AS (
					SELECT cardinality(k.kinds) > 0
						AND ($27::bigint = 0 OR n.value < $27::bigint)
						AND ($28::text[] IS NULL OR (k.kinds @> $28::text[] AND k.kinds <@ $28::text[])) AS ok
					FROM counter n, kinds k
				),
				held AS (`+
				strings.NewReplacer("{user}", "$2::text", "{key}", "$11::text", "{now}", "$25::timestamptz").
					Replace(heldChallengeSelect)+`
					AND $11::text <> '' AND (SELECT ok FROM allowed)
				),
				`+createChallengeCTEs+`
			SELECT n.value, k.kinds, a.ok, EXISTS (SELECT 1 FROM inserted), (SELECT h FROM held h)
			FROM counter n, kinds k, allowed a`,
				"{create}", "(SELECT ok FROM allowed) AND NOT EXISTS (SELECT 1 FROM held)"), "{attest}", "$29"))),
		getChallenge:    r.Replace(`SELECT {challengeColumns} FROM {s}.challenges WHERE id = $1`),
		challengeExists: r.Replace(`SELECT EXISTS (SELECT 1 FROM {s}.challenges WHERE id = $1)`),
		// One compare-and-set: of racing updates, the first commits and the
		// others re-check the WHERE against its row and match nothing. When
		// $10 (CredentialUsed) is true and the compare-and-set matched, the
		// same statement sets credential $5's last use to $8 if it is the
		// challenge's user's. It writes now to changed_at, which the
		// trigger of migration 0006 gives the challenge's action record as
		// its pass time when the new state is CONSUMED (as
		// consumeChallenge's does).
		transitionChallenge: r.Replace(`WITH t AS (
				UPDATE {s}.challenges SET
					state = $3::text,
					user_id = CASE WHEN $4::text = '' THEN user_id ELSE $4::text END,
					credential_id = CASE WHEN $5::text = '' THEN credential_id ELSE $5::text END,
					deny_reason = CASE WHEN $6::text = '' THEN deny_reason ELSE $6::text END,
					claimed_by = CASE WHEN $7::text = '' THEN claimed_by ELSE $7::text END,
					answered_at = COALESCE($8::timestamptz, answered_at),
					changed_at = $9
				WHERE id = $1 AND state = $2 AND expires_at > $9
					AND ($4::text = '' OR user_id = '' OR user_id = $4::text)
				RETURNING {challengeColumns}
			), used AS (
				UPDATE {s}.credentials cr SET last_used_at = $8::timestamptz
				FROM t WHERE $10::boolean AND cr.id = $5::text AND cr.user_id = t.user_id
			)
			SELECT {challengeColumns} FROM t`),
		recordAttempt: r.Replace(`UPDATE {s}.challenges SET attempts = attempts + 1
			WHERE id = $1 AND state = $2 AND expires_at > $3
			RETURNING {challengeColumns}`),
		listPending: r.Replace(`SELECT {challengeColumns} FROM {s}.challenges
			WHERE user_id = $1 AND state = 'PENDING' AND expires_at > $2
			ORDER BY created_at, id`),
		// Watch: $1 challenge IDs, $2 how many waiters to add to the count
		// of each (watchcount.go). Returns the IDs that exist. The update
		// takes each row's lock, as a writer's does: a writer that commits
		// after this statement updates a row that counts the waiter, and
		// so notifies; changing the count alone notifies nobody (the
		// trigger of migration 0004). Its commit does not wait for the WAL
		// flush (synchronous_commit off for this transaction only): a count
		// lost in a crash costs wake-ups, which waiters' polling covers.
		countWaiters: r.Replace(`UPDATE {s}.challenges c SET watchers = c.watchers + w.n
			FROM unnest($1::text[], $2::integer[]) AS w(id, n)
			WHERE c.id = w.id AND set_config('synchronous_commit', 'off', true) <> ''
			RETURNING c.id`),
		// The waiters that left: $1 challenge IDs, $2 how many to take
		// back from each.
		uncountWaiters: r.Replace(`UPDATE {s}.challenges c SET watchers = greatest(c.watchers - w.n, 0)
			FROM unnest($1::text[], $2::integer[]) AS w(id, n)
			WHERE c.id = w.id AND set_config('synchronous_commit', 'off', true) <> ''`),

		// Both records, or no row when either does not exist.
		getChallengeCredential: r.Replace(`SELECT {c.challengeColumns}, {cr.credentialColumns}
			FROM {s}.challenges c, {s}.credentials cr WHERE c.id = $1 AND cr.id = $2`),
		// $1 the challenge, $2…$4 the binding (user, action, digest), $5 now.
		// upd moves a bound, approved, unexpired challenge to CONSUMED when
		// the credential that approved it is still its user's, to FAILED
		// otherwise, and returns it with that credential's kind (NULL when
		// gone). When upd matched nothing, unchanged reads the challenge as
		// it is: FOR SHARE makes it wait for a racing writer and read what
		// that one committed, where a plain read would see the statement's
		// snapshot, from before it. The first column tells the two apart.
		// The trigger notifies the change in the statement's transaction
		// while a waiter watches the challenge.
		consumeChallenge: r.Replace(`WITH upd AS (
				UPDATE {s}.challenges c SET state = CASE WHEN EXISTS (SELECT 1 FROM {s}.credentials cr
						WHERE cr.id = c.credential_id AND cr.user_id = c.user_id)
					THEN 'CONSUMED' ELSE 'FAILED' END,
					changed_at = $5::timestamptz
				WHERE c.id = $1 AND c.state = 'APPROVED' AND c.expires_at > $5::timestamptz
					AND c.user_id <> '' AND c.user_id = $2::text AND c.action = $3::text
					AND COALESCE(c.details_digest, '') = COALESCE($4::bytea, '')
					AND (NOT EXISTS (SELECT 1 FROM {s}.credentials cr
							WHERE cr.id = c.credential_id AND cr.user_id = c.user_id)
						OR EXISTS (SELECT 1 FROM {s}.credentials cr
							WHERE cr.id = c.credential_id AND cr.user_id = c.user_id
								AND (cardinality($6::text[]) = 0 OR cr.kind = ANY ($6::text[]))
								AND (NOT $7::boolean OR cr.kind = 'passkey' OR c.verification_code <> '')))
				RETURNING {c.challengeColumns}, (SELECT cr.kind FROM {s}.credentials cr
					WHERE cr.id = c.credential_id AND cr.user_id = c.user_id)
			), unchanged AS (
				SELECT {c.challengeColumns}, (SELECT cr.kind FROM {s}.credentials cr
						WHERE cr.id = c.credential_id AND cr.user_id = c.user_id)
				FROM {s}.challenges c
				WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM upd)
				FOR SHARE OF c
			)
			SELECT true, * FROM upd
			UNION ALL
			SELECT false, * FROM unchanged`),

		putToken: r.Replace(`INSERT INTO {s}.registration_tokens (hash, user_id, created_at, expires_at, first_device)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO NOTHING`),
		consumeToken: r.Replace(`DELETE FROM {s}.registration_tokens WHERE hash = $1 AND expires_at > $2
			RETURNING user_id, created_at, expires_at, first_device`),

		putCeremony: r.Replace(`INSERT INTO {s}.ceremonies (id, user_id, kind, data, first_device, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`),
		takeCeremony: r.Replace(`DELETE FROM {s}.ceremonies WHERE id = $1 AND expires_at > $2
			RETURNING user_id, kind, data, first_device, created_at, expires_at`),

		// A window that has ended starts again inside the statement.
		incrementCounter: r.Replace(`INSERT INTO {s}.counters AS c (key, value, window_end) VALUES ($1, 1, $2)
			ON CONFLICT (key) DO UPDATE SET
				value = CASE WHEN c.window_end > $3 THEN c.value + 1 ELSE 1 END,
				window_end = CASE WHEN c.window_end > $3 THEN c.window_end ELSE EXCLUDED.window_end END
			RETURNING value`),
		counter: r.Replace(`SELECT value FROM {s}.counters WHERE key = $1 AND window_end > $2`),
		// Claimed when inserted, or when the recorded claim has expired;
		// otherwise no row is written.
		claimNonce: r.Replace(`INSERT INTO {s}.nonces AS n (nonce, expires_at) VALUES ($1, $2)
			ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE n.expires_at <= $3`),

		sweep: r.Replace(`WITH
				ch AS (DELETE FROM {s}.challenges WHERE expires_at <= $1 RETURNING 1),
				idem AS (DELETE FROM {s}.challenge_idempotency WHERE expires_at <= $2 RETURNING 1),
				tok AS (DELETE FROM {s}.registration_tokens WHERE expires_at <= $2 RETURNING 1),
				cnt AS (DELETE FROM {s}.counters WHERE window_end <= $2 RETURNING 1),
				non AS (DELETE FROM {s}.nonces WHERE expires_at <= $2 RETURNING 1),
				cer AS (DELETE FROM {s}.ceremonies WHERE expires_at IS NULL OR expires_at <= $2 RETURNING 1),
				act AS (DELETE FROM {s}.actions WHERE expires_at <= $2 RETURNING 1)
			SELECT (SELECT count(*) FROM ch) + (SELECT count(*) FROM idem) + (SELECT count(*) FROM tok)
				+ (SELECT count(*) FROM cnt) + (SELECT count(*) FROM non) + (SELECT count(*) FROM cer)
				+ (SELECT count(*) FROM act)`),

		putAction: r.Replace(`INSERT INTO {s}.actions ({actionColumns}) VALUES (` + actionValues(1) + `)
			ON CONFLICT (id) DO NOTHING`),
		getAction: r.Replace(`SELECT {actionColumns} FROM {s}.actions WHERE id = $1 AND user_id = $2 AND expires_at > $3`),
		// $1 user, $2 now, $3/$4 the cursor (NULL: none), $5 since and $6
		// passed since (NULL: none), $7 the limit.
		listActions: r.Replace(`SELECT {actionColumns} FROM {s}.actions
			WHERE user_id = $1 AND expires_at > $2
				AND ($3::timestamptz IS NULL OR created_at < $3::timestamptz OR (created_at = $3::timestamptz AND id < $4::text))
				AND ($5::timestamptz IS NULL OR created_at >= $5::timestamptz
					OR ($6::timestamptz IS NOT NULL AND passed_at >= $6::timestamptz))
			ORDER BY created_at DESC, id DESC LIMIT $7`),
		// One compare-and-set: $1 id, $2 user, $3 now, $4 from, $5 to,
		// $6…$8 the reviewer, note and time when not NULL.
		moveReview: r.Replace(`UPDATE {s}.actions SET review = $5::text,
				reviewer = COALESCE($6::text, reviewer), review_note = COALESCE($7::text, review_note),
				reviewed_at = COALESCE($8::timestamptz, reviewed_at)
			WHERE id = $1 AND user_id = $2 AND expires_at > $3 AND review = $4::text
			RETURNING {actionColumns}`),
		pendingReviews: r.Replace(`SELECT {actionColumns} FROM {s}.actions
			WHERE review = 'PENDING' AND expires_at > $1 ORDER BY created_at, id LIMIT $2`),
		// $1 the user, $2 the counters to delete with the records.
		forgetActions: r.Replace(`WITH c AS (DELETE FROM {s}.counters WHERE key = ANY ($2::text[]))
			DELETE FROM {s}.actions WHERE user_id = $1`),
		// ReadSignals' tallies (store.SignalQuery.Tally): $1 user, $2
		// action, $3 prefix, $4 browser, $5 now, $6 known since. One row:
		// the counts, the flags and the latest passes.
		tallyActions: r.Replace(`SELECT
				count(*) FILTER (WHERE action = $2 AND created_at > $5::timestamptz - interval '1 minute'),
				count(*) FILTER (WHERE action = $2 AND created_at > $5::timestamptz - interval '1 hour'),
				count(*) FILTER (WHERE action = $2 AND created_at > $5::timestamptz - interval '1 day'),
				count(*) FILTER (WHERE result = 'DENIED' AND created_at > $5::timestamptz - interval '1 hour'),
				count(*) FILTER (WHERE result = 'FAILED' AND created_at > $5::timestamptz - interval '1 hour'),
				COALESCE(bool_or($3 <> '' AND prefix = $3 AND passed_at >= $6), false),
				COALESCE(bool_or($4 <> '' AND browser = $4 AND passed_at >= $6), false),
				max(passed_at) FILTER (WHERE $4 <> '' AND browser = $4 AND passed_at >= $6 AND action = $2),
				max(passed_at) FILTER (WHERE $4 <> '' AND browser = $4 AND passed_at >= $6)
			FROM {s}.actions
			WHERE user_id = $1 AND expires_at > $5::timestamptz
				AND (created_at > $5::timestamptz - interval '1 day' OR passed_at >= $6::timestamptz)`),
		// ReadSignals' approvals: $1 user, $2 action, $3 now, $4 review since.
		approvals: r.Replace(`SELECT {actionColumns} FROM {s}.actions
			WHERE user_id = $1 AND action = $2 AND review = 'APPROVED' AND expires_at > $3 AND created_at >= $4
			ORDER BY created_at, id`),
	}
}

// prefixColumns qualifies each column of a comma-separated list.
func prefixColumns(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
