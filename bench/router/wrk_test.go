package main

import (
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := `Running 8s test @ http://127.0.0.1:40000/version
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  512.00us  12.40ms   90.00%
    Req/Sec    31.20k     1.10k   33.00k    70.00%
  Latency Distribution
     50%  730.00us
     75%    1.10ms
     90%    1.60ms
     99%    2.71ms
  249876 requests in 8.00s, 40.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  31234.50
Transfer/sec:      5.00MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{rps: 31234.5, p50: 730 * time.Microsecond, p99: 2710 * time.Microsecond, requests: 249876, failed: 7}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused"); err == nil {
		t.Error("got no error for a report without figures")
	}
}
