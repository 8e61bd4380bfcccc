package clusters

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTrafficCountsRequestsAndBodyBytes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Errorf("read request body: %v", err)
		}
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/stream":
			// Flushing before the end makes the length unknown: chunked.
			w.Write([]byte(strings.Repeat("s", 3000)))
			w.(http.Flusher).Flush()
			w.Write([]byte(strings.Repeat("t", 1000)))
		default:
			w.Header().Set("Content-Length", "5")
			w.Write([]byte("hello"))
		}
	}))
	defer srv.Close()

	tests := []struct {
		name          string
		method, path  string
		body          io.Reader
		length        int64
		code          string
		sent, receive float64
	}{
		{name: "known lengths", method: http.MethodPatch, path: "/apply", body: strings.NewReader("0123456789"), length: 10,
			code: "2xx", sent: 10, receive: 5},
		{name: "request of unknown length counted as sent", method: http.MethodPost, path: "/apply",
			body: io.MultiReader(strings.NewReader(strings.Repeat("x", 700))), length: -1, code: "2xx", sent: 700, receive: 5},
		{name: "request of length 0 with a body counted as sent", method: http.MethodPut, path: "/apply",
			body: io.MultiReader(strings.NewReader(strings.Repeat("y", 300))), length: 0, code: "2xx", sent: 300, receive: 5},
		{name: "stream counted as read", method: http.MethodGet, path: "/stream", code: "2xx", receive: 4000},
		{name: "refusal", method: http.MethodGet, path: "/missing", code: "4xx", receive: float64(len("404 page not found\n"))},
		{name: "no answer", method: http.MethodGet, path: "/closed", code: "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			traffic := NewTraffic()
			var next http.RoundTripper = http.DefaultTransport
			if tt.code == "error" {
				next = roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, io.ErrUnexpectedEOF })
			}
			client := &http.Client{Transport: traffic.wrapper("plant-a")(next)}
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = tt.length
			resp, err := client.Do(req)
			if err == nil {
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			} else if tt.code != "error" {
				t.Fatal(err)
			}
			if n := testutil.ToFloat64(traffic.requests.WithLabelValues("plant-a", tt.method, tt.code)); n != 1 {
				t.Errorf("requests{method=%s,code=%s} = %v, want 1", tt.method, tt.code, n)
			}
			if n := testutil.CollectAndCount(traffic.requests); n != 1 {
				t.Errorf("%d request series, want 1", n)
			}
			if n := testutil.ToFloat64(traffic.requestBytes.WithLabelValues("plant-a")); n != tt.sent {
				t.Errorf("request bytes = %v, want %v", n, tt.sent)
			}
			if n := testutil.ToFloat64(traffic.responseBytes.WithLabelValues("plant-a")); n != tt.receive {
				t.Errorf("response bytes = %v, want %v", n, tt.receive)
			}
		})
	}
}

func TestNilTrafficCountsNothing(t *testing.T) {
	var traffic *Traffic
	if w := traffic.wrapper("plant-a"); w != nil {
		t.Error("a nil Traffic wraps transports")
	}
	traffic.watchRestarted("plant-a")
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
