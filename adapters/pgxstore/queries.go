package pgxstore

import "strings"

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

	putToken, consumeToken string

	incrementCounter, counter, claimNonce string

	sweep string
}

const credentialColumns = `id, user_id, kind, algorithm, public_key, name, platform, push_token,
	created_at, last_used_at, sign_count, flags, passkey`

const challengeColumns = `id, user_id, action, state, method, methods, nonce, details, details_digest,
	verification_code, idempotency_key, client_ip, user_agent, origin, created_at, expires_at,
	credential_id, deny_reason, answered_at, attempts, claimed_by, claim_secret_hash,
	browser_binding_hash, passkey`

func newQueries(schema string) queries {
	r := strings.NewReplacer("{s}", schema,
		"{credentialColumns}", credentialColumns,
		"{challengeColumns}", challengeColumns,
		"{c.challengeColumns}", prefixColumns("c.", challengeColumns))
	return queries{
		lock: `SELECT pg_advisory_xact_lock($1::bigint)`,

		// Run after the per-user advisory lock in the same implicit
		// transaction, so the count sees every committed credential of the
		// user and no other create of that user runs in between.
		createCredential: r.Replace(`INSERT INTO {s}.credentials ({credentialColumns})
			SELECT $1::text, $2::text, $3::text, $4::text, $5::bytea, $6::text, $7::text, $8::text,
				$9::timestamptz, $10::timestamptz, $11::bigint, $12::bigint, $13::bytea
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

		// The idempotency key is claimed (or taken over from an expired
		// holder) by INSERT … ON CONFLICT, which waits for a racing claim to
		// commit and then re-checks it; the challenge is inserted only when
		// the claim succeeded or there is no key. A duplicate ID aborts the
		// whole statement, claim included.
		createChallenge: r.Replace(`WITH claim AS (
				INSERT INTO {s}.challenge_idempotency AS i (user_id, key, challenge_id, expires_at)
				SELECT $2::text, $11::text, $1::text, $16::timestamptz WHERE $11::text <> ''
				ON CONFLICT (user_id, key) DO UPDATE
					SET challenge_id = EXCLUDED.challenge_id, expires_at = EXCLUDED.expires_at
					WHERE i.expires_at <= $25::timestamptz
				RETURNING 1
			)
			INSERT INTO {s}.challenges ({challengeColumns})
			SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text[], $7::bytea, $8::bytea, $9::bytea,
				$10::text, $11::text, $12::text, $13::text, $14::text, $15::timestamptz, $16::timestamptz,
				$17::text, $18::text, $19::timestamptz, $20::integer, $21::text, $22::bytea, $23::bytea, $24::bytea
			WHERE $11::text = '' OR EXISTS (SELECT 1 FROM claim)`),
		idempotentChallenge: r.Replace(`SELECT {c.challengeColumns}
			FROM {s}.challenge_idempotency i JOIN {s}.challenges c ON c.id = i.challenge_id
			WHERE i.user_id = $1 AND i.key = $2 AND i.expires_at > $3`),
		getChallenge:    r.Replace(`SELECT {challengeColumns} FROM {s}.challenges WHERE id = $1`),
		challengeExists: r.Replace(`SELECT EXISTS (SELECT 1 FROM {s}.challenges WHERE id = $1)`),
		// One compare-and-set: of racing updates, the first commits and the
		// others re-check the WHERE against its row and match nothing.
		transitionChallenge: r.Replace(`UPDATE {s}.challenges SET
				state = $3::text,
				user_id = CASE WHEN $4::text = '' THEN user_id ELSE $4::text END,
				credential_id = CASE WHEN $5::text = '' THEN credential_id ELSE $5::text END,
				deny_reason = CASE WHEN $6::text = '' THEN deny_reason ELSE $6::text END,
				claimed_by = CASE WHEN $7::text = '' THEN claimed_by ELSE $7::text END,
				answered_at = COALESCE($8::timestamptz, answered_at)
			WHERE id = $1 AND state = $2 AND expires_at > $9
				AND ($4::text = '' OR user_id = '' OR user_id = $4::text)
			RETURNING {challengeColumns}`),
		recordAttempt: r.Replace(`UPDATE {s}.challenges SET attempts = attempts + 1
			WHERE id = $1 AND state = $2 AND expires_at > $3
			RETURNING {challengeColumns}`),
		listPending: r.Replace(`SELECT {challengeColumns} FROM {s}.challenges
			WHERE user_id = $1 AND state = 'PENDING' AND expires_at > $2
			ORDER BY created_at, id`),

		putToken: r.Replace(`INSERT INTO {s}.registration_tokens (hash, user_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING`),
		consumeToken: r.Replace(`DELETE FROM {s}.registration_tokens WHERE hash = $1 AND expires_at > $2
			RETURNING user_id, created_at, expires_at`),

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
				non AS (DELETE FROM {s}.nonces WHERE expires_at <= $2 RETURNING 1)
			SELECT (SELECT count(*) FROM ch) + (SELECT count(*) FROM idem) + (SELECT count(*) FROM tok)
				+ (SELECT count(*) FROM cnt) + (SELECT count(*) FROM non)`),
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
