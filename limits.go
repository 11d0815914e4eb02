package deviceauth

import (
	"context"
	"net/netip"
	"time"

	"github.com/deviceauth/deviceauth/event"
)

// Rate limits: fixed-window counters in the store, per user and per
// client network.

// limit counts one event against rate r for key; over the limit it is
// ErrRateLimited. A negative limit is off.
func (s *Service) limit(ctx context.Context, name, key string, r Rate) error {
	if r.Limit < 0 {
		return nil
	}
	n, err := s.store.IncrementCounter(ctx, "rate:"+name+":"+key, r.Window, s.now())
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	if n > int64(r.Limit) {
		s.emit(ctx, event.Event{Type: event.RateLimited, Reason: name})
		return ErrRateLimited
	}
	return nil
}

// limitIP counts one event of client ip against rate r, keyed by the
// client's network (RateLimits.IPv4Prefix, IPv6Prefix).
func (s *Service) limitIP(ctx context.Context, name string, ip netip.Addr, r Rate) error {
	return s.limit(ctx, name, s.ipKey(ip), r)
}

// ipKey names the network ip counts in: an IPv4-mapped address is unmapped
// first (else every IPv4 client would share the mapped range's /64), and a
// full-length prefix is the bare address, so default IPv4 keys stay as
// they were. An unknown IP is "".
func (s *Service) ipKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	bits := s.cfg.RateLimits.IPv6Prefix
	if ip.Is4() {
		bits = s.cfg.RateLimits.IPv4Prefix
	}
	if bits >= ip.BitLen() {
		return ip.String()
	}
	p, _ := ip.Prefix(bits) // bits is within 1..BitLen, checked by New
	return p.String()
}

// RateLimits caps requests in fixed windows through the store, so every
// instance counts against one limit. A zero Limit takes the default; a
// negative Limit turns that limit off.
type RateLimits struct {
	// Register: registrations per client IP. Default 20 per 10 minutes.
	Register Rate
	// Fetch: device-signed requests (fetch, list pending, claim, remove)
	// per client IP, counted before the signature is checked. Default 300
	// per minute.
	Fetch Rate
	// Respond: challenge responses per client IP. Default 60 per minute.
	Respond Rate
	// Challenges: challenges created per user. Default 30 per 10 minutes.
	// Under DefaultPolicy (without push) Track checks and creates in one
	// store call, so the limit is counted before it: every such Track
	// counts, also one that ends in BLOCK or enrollment_required.
	Challenges Rate
	// Pushes: push challenges per user. Default 10 per hour.
	Pushes Rate
	// QR: QR challenges created per client IP. Default 30 per minute.
	QR Rate
	// Ceremonies: anonymous ceremonies (passkey sign-in) begun per client
	// IP, see Service.LimitCeremonies. Default 60 per minute.
	Ceremonies Rate

	// IPv4Prefix and IPv6Prefix are the network sizes, in prefix bits, by
	// which the per-IP limits count clients: every address of one network
	// shares one count. Defaults 32 (each IPv4 address) and 64 (one IPv6
	// subnet: a single client usually holds a whole /64). An IPv4-mapped
	// IPv6 address (::ffff:a.b.c.d) counts as the IPv4 address it is.
	IPv4Prefix int
	IPv6Prefix int

	// Recovery: recovery codes tried per user, and per client IP through
	// the web endpoints. Default 5 per hour.
	Recovery Rate
}

// Rate is Limit events per Window.
type Rate struct {
	Limit  int
	Window time.Duration
}
