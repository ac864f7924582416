package router

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
)

// Forwarding headers: what a backend learns of the client through the router.
const (
	headerForwardedFor   = "X-Forwarded-For"
	headerForwardedProto = "X-Forwarded-Proto"
	headerForwardedHost  = "X-Forwarded-Host"
)

// forwarded sets the X-Forwarded headers of pr.Out, as forwardedValues says.
func (r *Router) forwarded(pr *httputil.ProxyRequest) {
	xff, proto, host := r.forwardedValues(pr.In)
	if xff != "" {
		pr.Out.Header[headerForwardedFor] = []string{xff}
	}
	pr.Out.Header[headerForwardedProto] = []string{proto}
	pr.Out.Header[headerForwardedHost] = []string{host}
}

// forwardedValues are the X-Forwarded-For, -Proto and -Host that req goes on with. From a trusted proxy
// (Options.TrustedProxies) the client's address list is kept and the proxy's address appended to it, and its
// -Proto and -Host are kept when it sent them: so an app behind a TLS-terminating load balancer sees https and
// the user's address. From any other peer all three are the router's own view (its peer's address, http or
// https, the Host header), whatever the request claimed.
func (r *Router) forwardedValues(req *http.Request) (xff, proto, host string) {
	peer, _, err := net.SplitHostPort(req.RemoteAddr)
	if err == nil {
		xff = peer
	}
	proto, host = "http", req.Host
	if req.TLS != nil {
		proto = "https"
	}
	if !r.trusts(req.RemoteAddr) {
		return xff, proto, host
	}
	if prior := req.Header[headerForwardedFor]; len(prior) > 0 && xff != "" {
		xff = strings.Join(prior, ", ") + ", " + xff
	}
	if v := req.Header.Get(headerForwardedProto); v != "" {
		proto = v
	}
	if v := req.Header.Get(headerForwardedHost); v != "" {
		host = v
	}
	return xff, proto, host
}

// trusts reports whether the peer at remoteAddr (IP:port) is one of Options.TrustedProxies.
func (r *Router) trusts(remoteAddr string) bool {
	if len(r.opts.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range r.opts.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads CIDRs (10.0.0.0/8) or single addresses (192.0.2.7) as prefixes for
// Options.TrustedProxies.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, &InvalidError{Err: fmt.Errorf("trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an address", s)}
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
