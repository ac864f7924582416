package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// The plain path forwards the common request, a GET or HEAD without a body that asks for no protocol switch
// or event stream, to an http:// backend over the router's own kept-alive connections: it writes the
// request line and headers itself and reads the answer with http.ReadResponse. That skips what costs most
// in httputil.ReverseProxy and http.Transport per request (a copy of the request and its headers, and two
// goroutines per connection that hand every request and answer over through channels). Every other request
// takes the general path (the track's ReverseProxy). Both set the same headers and answer errors alike.

// maxIdlePerBackend bounds the kept-alive connections the plain path keeps to one backend.
const maxIdlePerBackend = 1024

// connPool keeps idle connections to one backend, last in first out.
type connPool struct {
	mu   sync.Mutex
	idle []*backendConn
	// closed is set once no route has the backend: a connection its last requests give back is closed.
	closed bool
}

type backendConn struct {
	net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// get returns an idle connection (reused true) or, when there is none or fresh is set, dials a new one.
func (p *connPool) get(ctx context.Context, addr string, dial time.Duration, fresh bool) (*backendConn, bool, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 && !fresh {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, true, nil
	}
	p.mu.Unlock()
	d := net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &backendConn{Conn: nc, br: bufio.NewReaderSize(nc, 4<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, false, nil
}

// put keeps c for the next request, or closes it when the pool is full.
func (p *connPool) put(c *backendConn) {
	p.mu.Lock()
	if !p.closed && len(p.idle) < maxIdlePerBackend {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// close closes the idle connections and keeps no more; the router calls it for a backend that no route has
// any more.
func (p *connPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// plain reports whether req may take the plain path to be.
func plain(req *http.Request, be *backend) bool {
	return be.plainAddr != "" && (req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		(req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 && len(req.TransferEncoding) == 0 &&
		!isStream(req)
}

// errStale is a kept-alive connection that the backend closed before it answered.
var errStale = errors.New("kept-alive connection closed by the backend")

// forwardPlain forwards req to be on the plain path and writes the answer to w.
func (r *Router) forwardPlain(w http.ResponseWriter, req *http.Request, tk *track, be *backend) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		// A retry dials: the other idle connections may have gone stale alike.
		c, reused, err := be.pool.get(ctx, be.plainAddr, r.dialTimeout(), attempt > 0)
		if err != nil {
			r.proxyError(w, req, be, err)
			return
		}
		// A client that leaves ends the wait for the backend.
		stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
		resp, err := r.exchange(c, req, tk)
		if err != nil {
			stop()
			c.Close()
			// A GET or HEAD may go again on a new connection when a kept-alive one turned out closed.
			if reused && attempt == 0 && ctx.Err() == nil && (errors.Is(err, errStale) || errors.Is(err, io.EOF) || isReset(err)) {
				continue
			}
			r.proxyError(w, req, be, err)
			return
		}
		keep := r.relay(w, req, resp)
		if stop() && keep {
			be.pool.put(c)
		} else {
			c.Close()
		}
		return
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "read" || op.Op == "write") && !op.Timeout()
}

func (r *Router) dialTimeout() time.Duration {
	if r.opts.DialTimeout > 0 {
		return r.opts.DialTimeout
	}
	return DefaultDialTimeout
}

func (r *Router) responseHeaderTimeout() time.Duration {
	if r.opts.ResponseHeaderTimeout > 0 {
		return r.opts.ResponseHeaderTimeout
	}
	return DefaultResponseHeaderTimeout
}

// exchange writes req to c and reads the backend's final answer (1xx answers are skipped).
func (r *Router) exchange(c *backendConn, req *http.Request, tk *track) (*http.Response, error) {
	bw := c.bw
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(req.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(req.Host)
	bw.WriteString("\r\n")
	skip := connectionTokens(req.Header)
	for k, vv := range req.Header {
		if hopByHop(k) || forwardedHeader(k) || (skip != nil && skip[k]) {
			continue
		}
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
	xff, proto, host := r.forwardedValues(req)
	if xff != "" {
		writeHeaderLine(bw, headerForwardedFor, xff)
	}
	writeHeaderLine(bw, headerForwardedHost, host)
	writeHeaderLine(bw, headerForwardedProto, proto)
	writeHeaderLine(bw, HeaderTrack, tk.name)
	writeHeaderLine(bw, HeaderVersion, tk.version)
	bw.WriteString("\r\n")
	c.SetDeadline(time.Now().Add(r.responseHeaderTimeout()))
	if err := req.Context().Err(); err != nil {
		return nil, err // the client left before the deadline above was set: the AfterFunc's may be overwritten
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if _, err := c.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errStale
		}
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 {
			c.SetDeadline(time.Time{})
			return resp, nil
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return nil, errors.New("backend switched protocols on a request that asked for no switch")
		}
	}
}

func writeHeaderLine(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// relay writes resp to w; it reports whether the connection may carry another request.
func (r *Router) relay(w http.ResponseWriter, req *http.Request, resp *http.Response) bool {
	dst := w.Header()
	skip := connectionTokens(resp.Header)
	for k, vv := range resp.Header {
		if hopByHop(k) || (skip != nil && skip[k]) {
			continue
		}
		dst[k] = vv
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	flush := resp.ContentLength < 0 // an answer of unknown length may be a stream: pass each part on
	buf := r.buffers.Get()
	defer r.buffers.Put(buf)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				resp.Body.Close()
				return false
			}
			if flush {
				http.NewResponseController(w).Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			resp.Body.Close()
			// The answer is cut: abort the client's response so that it is not taken as whole.
			panic(http.ErrAbortHandler)
		}
	}
	for k, vv := range resp.Trailer {
		dst[http.TrailerPrefix+k] = vv
	}
	resp.Body.Close()
	return !resp.Close
}

// proxyError answers a request the backend did not answer, on either path: 499 when the client left (its
// request is not the backend's failure, and no one reads the answer), 504 on a timeout, 502 otherwise.
func (r *Router) proxyError(w http.ResponseWriter, req *http.Request, be *backend, err error) {
	var netErr net.Error
	switch {
	case req.Context().Err() != nil:
		w.WriteHeader(statusClientClosed)
	case errors.As(err, &netErr) && netErr.Timeout():
		r.logger.Warn("backend timed out", "backend", be.raw, "err", err)
		http.Error(w, "gateway timeout: the backend did not answer in time", http.StatusGatewayTimeout)
	default:
		r.logger.Warn("backend failed", "backend", be.raw, "err", err)
		http.Error(w, "bad gateway: the backend failed", http.StatusBadGateway)
	}
}

// hopByHop reports whether k (canonical) is a hop-by-hop header, which a proxy does not forward, or Te,
// which the plain path drops as it forwards no trailers upstream.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// forwardedHeader reports whether k is a header the router sets itself, whatever the client sent.
func forwardedHeader(k string) bool {
	switch k {
	case headerForwardedFor, headerForwardedProto, headerForwardedHost, HeaderTrack, HeaderVersion:
		return true
	}
	return false
}

// connectionTokens returns the headers that h's Connection header names (hop-by-hop too), or nil.
func connectionTokens(h http.Header) map[string]bool {
	vv := h["Connection"]
	if len(vv) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, v := range vv {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				m[textproto.CanonicalMIMEHeaderKey(f)] = true
			}
		}
	}
	return m
}
