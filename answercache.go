package deviceauth

import (
	"sync"
	"time"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// answerCache keeps, in one Service instance, what an in-app answer needs
// besides its one store write, so that the answer is one round trip (a
// TransitionChallenge) instead of two (docs/architecture.md#the-store-contract):
// the fields of the in-app challenges this instance tracked that never
// change (ID, user, action, nonce, details digest, the phone named, the
// attestation required, expiry), and the device credentials it read (the
// user, the parsed key, the attestation). Everything that can change is
// still decided by the store: the transition's compare-and-set checks the
// challenge is pending, unexpired and the user's; a credential removed on
// another instance after it was cached is caught by Validate, whose
// ConsumeChallenge fails a challenge whose approving credential is gone.
// Removals through this instance drop the credential at once, and a cached
// credential is used for at most credentialCacheTTL.
type answerCache struct {
	mu          sync.Mutex
	challenges  map[string]cachedChallenge
	credentials map[string]cachedCredential
	// gen counts removals of credentials through this instance: a read
	// made before one is not cached (it may hold the removed credential).
	gen uint64
}

// cachedChallenge is what answering an in-app challenge reads of it.
type cachedChallenge struct {
	userID, action, claimedBy, clientIP string
	attestationRequired                 string
	nonce, detailsDigest                []byte
	expiresAt                           time.Time
}

// cachedCredential is what answering reads of a device credential.
type cachedCredential struct {
	userID      string
	key         protocol.PublicKey
	attestation Attestation
	readAt      time.Time
}

// answerCacheSize bounds each of the two maps; a full map starts again
// empty (as keyCache), which costs a second round trip to answers in
// flight, never a wrong answer.
const answerCacheSize = 4096

// credentialCacheTTL is how long a cached credential is used before it is
// read from the store again.
const credentialCacheTTL = time.Minute

// putChallenge keeps in-app challenge c for its answer.
func (a *answerCache) putChallenge(c store.Challenge) {
	// One allocation for both byte fields; the caller's slices may be
	// handed on (the nonce goes to the application in InAppChallenge).
	buf := make([]byte, 0, len(c.Nonce)+len(c.DetailsDigest))
	buf = append(append(buf, c.Nonce...), c.DetailsDigest...)
	e := cachedChallenge{userID: c.UserID, action: c.Action, claimedBy: c.ClaimedBy, clientIP: c.ClientIP,
		attestationRequired: c.AttestationRequired, expiresAt: c.ExpiresAt,
		nonce: buf[:len(c.Nonce):len(c.Nonce)], detailsDigest: buf[len(c.Nonce):]}
	a.mu.Lock()
	if a.challenges == nil || len(a.challenges) >= answerCacheSize {
		a.challenges = make(map[string]cachedChallenge)
	}
	a.challenges[c.ID] = e
	a.mu.Unlock()
}

// lookup returns challenge id and credential credID when both are cached
// (the credential for less than credentialCacheTTL at now).
func (a *answerCache) lookup(id, credID string, now time.Time) (cachedChallenge, cachedCredential, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch, ok := a.challenges[id]
	if !ok {
		return cachedChallenge{}, cachedCredential{}, false
	}
	cred, ok := a.credentials[credID]
	if !ok || !now.Before(cred.readAt.Add(credentialCacheTTL)) {
		return cachedChallenge{}, cachedCredential{}, false
	}
	return ch, cred, true
}

// forget drops challenge id, once an answer has been put to the store:
// one answer ends it, and a later one reads it from the store.
func (a *answerCache) forget(id string) {
	a.mu.Lock()
	delete(a.challenges, id)
	a.mu.Unlock()
}

// generation is the count of removals so far, to pass to putCredential
// with a credential read after it.
func (a *answerCache) generation() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen
}

// putCredential keeps device credential c, with its parsed key, read at
// now after generation gen: not when a removal came since.
func (a *answerCache) putCredential(c store.Credential, key protocol.PublicKey, gen uint64, now time.Time) {
	att := credentialAttestation(c)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return
	}
	if a.credentials == nil || len(a.credentials) >= answerCacheSize {
		a.credentials = make(map[string]cachedCredential)
	}
	a.credentials[c.ID] = cachedCredential{userID: c.UserID, key: key, attestation: att, readAt: now}
}

// removeCredential drops credential id; removeUser drops every credential
// of userID. Both are called after the store's deletion, and a read made
// before them is not cached after them (generation).
func (a *answerCache) removeCredential(id string) {
	a.mu.Lock()
	a.gen++
	delete(a.credentials, id)
	a.mu.Unlock()
}

func (a *answerCache) removeUser(userID string) {
	a.mu.Lock()
	a.gen++
	for id, c := range a.credentials {
		if c.userID == userID {
			delete(a.credentials, id)
		}
	}
	a.mu.Unlock()
}
