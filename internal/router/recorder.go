package router

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// statusRecorder keeps the status code of a response for the metrics, and accounts for a request forwarded
// to a backend: it is in flight from begin until end, or until its response turns out to be a stream (a
// protocol switch such as WebSocket, or an event stream). A stream may last for hours: it neither holds a
// drain nor goes into the latency histogram, and it has no write timeout.
type statusRecorder struct {
	http.ResponseWriter
	series *series
	be     *backend
	start  time.Time
	code   int
	stream bool
}

// recorders lends ServeHTTP its status recorders.
var recorders = sync.Pool{New: func() any { return new(statusRecorder) }}

// begin starts the accounting of a request forwarded to be.
func (s *statusRecorder) begin(w http.ResponseWriter, sr *series, be *backend, start time.Time) {
	s.ResponseWriter, s.series, s.be, s.start = w, sr, be, start
	be.inFlight.Add(1)
	sr.inFlight.Inc()
}

// end counts the request and returns s to the pool. ServeHTTP defers it, so that it runs also when the
// proxy aborts a response it cannot finish.
func (s *statusRecorder) end() {
	code := s.code
	if code == 0 {
		code = http.StatusOK
	}
	if !s.stream {
		s.leave()
		s.series.duration.Observe(time.Since(s.start).Seconds())
	}
	s.series.count(code)
	*s = statusRecorder{}
	recorders.Put(s)
}

func (s *statusRecorder) leave() {
	s.be.inFlight.Add(-1)
	s.series.inFlight.Dec()
}

// startStream ends the request's in-flight accounting early: its response is a stream.
func (s *statusRecorder) startStream() {
	s.stream = true
	s.leave()
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
		if isEventStream(s.Header().Get("Content-Type")) {
			s.startStream()
			// The server's write timeout bounds a whole response; an event stream has no end to bound.
			_ = http.NewResponseController(s.ResponseWriter).SetWriteDeadline(time.Time{})
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Hijack takes the client's connection for a protocol switch, which the proxy does only after the backend
// answered 101: the request is counted with that code, as a stream. The server clears the connection's
// deadlines when it hands it over.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.code == 0 {
		s.code = http.StatusSwitchingProtocols
		s.startStream()
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the underlying writer (the proxy flushes through it).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// isStream reports whether req asks for a response that may last indefinitely: a protocol switch, or an
// event stream (a browser's EventSource sends Accept: text/event-stream).
func isStream(req *http.Request) bool {
	if req.Header.Get("Upgrade") != "" {
		return true
	}
	return isEventStream(req.Header.Get("Accept"))
}

func isEventStream(mediaType string) bool {
	return mediaType != "" && strings.Contains(strings.ToLower(mediaType), "text/event-stream")
}
