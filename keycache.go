package deviceauth

import (
	"sync"

	"github.com/deviceauth/deviceauth/internal/protocol"
)

// keyCache keeps parsed public keys by their stored bytes, so the hot path
// (every response and signed request) does not parse SPKI DER again. It
// caches parsing only: which key a request may use is still read from the
// store (answerCache keeps the credentials of in-app answers, for the
// one-call answer it documents).
type keyCache struct {
	mu   sync.Mutex
	keys map[string]protocol.PublicKey
}

// keyCacheSize bounds the cache; when full it starts again empty.
const keyCacheSize = 4096

func (c *keyCache) parse(alg string, spki []byte) (protocol.PublicKey, error) {
	id := alg + "\x00" + string(spki)
	c.mu.Lock()
	k, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return k, nil
	}
	k, err := protocol.ParseSPKI(alg, spki)
	if err != nil {
		return protocol.PublicKey{}, err
	}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= keyCacheSize {
		c.keys = make(map[string]protocol.PublicKey)
	}
	c.keys[id] = k
	c.mu.Unlock()
	return k, nil
}
