package deviceauth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the IP of the client that made r. The connection's
// remote address is the client unless it belongs to Config.TrustedProxies;
// then X-Forwarded-For is read from the right, skipping trusted proxies, and
// the first untrusted address is the client. A raw X-Forwarded-For from an
// untrusted peer is never believed.
func (s *Service) ClientIP(r *http.Request) netip.Addr {
	peer := remoteAddr(r.RemoteAddr)
	if !s.trusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled hop: stop at the last proxy we trust
		}
		client = a.Unmap()
		if !s.trusted(client) {
			break
		}
	}
	return client
}

func (s *Service) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(addr string) netip.Addr {
	if addr == "" {
		return netip.Addr{} // a request made in process: no peer
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
